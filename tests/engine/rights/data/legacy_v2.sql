-- A rights database made by Atelier e411650 (schema_version 2, before Alembic): one twin, its
-- fitted version, a grant and a ledger row. {DATA} stands for the folder of its files.
BEGIN TRANSACTION;
CREATE TABLE fitted_versions (
	id INTEGER NOT NULL, 
	twin_id VARCHAR(64) NOT NULL, 
	twin_json_sha256 VARCHAR(64), 
	path TEXT, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(twin_id) REFERENCES twins (id)
);
INSERT INTO "fitted_versions" VALUES(1,'twin-legacy','721f20b0d7010c574bc7191e0e8db3647d56413f25bce4ae6a1f155d3865959a','{DATA}/fit/twin.json','2026-12-02 02:50:04.913277');
CREATE TABLE grants (
	id INTEGER NOT NULL, 
	twin_id VARCHAR(64) NOT NULL, 
	brand VARCHAR(200) NOT NULL, 
	channels TEXT NOT NULL, 
	regions TEXT NOT NULL, 
	starts_on DATE NOT NULL, 
	ends_on DATE NOT NULL, 
	created_at DATETIME NOT NULL, 
	revoked_at DATETIME, 
	PRIMARY KEY (id), 
	FOREIGN KEY(twin_id) REFERENCES twins (id)
);
INSERT INTO "grants" VALUES(1,'twin-legacy','Maison','social,print','FR','2030-01-01','2030-12-31','2026-12-02 02:50:04.935776',NULL);
CREATE TABLE ledger (
	id INTEGER NOT NULL, 
	kind VARCHAR(8) NOT NULL, 
	voids_id INTEGER, 
	twin_id VARCHAR(64) NOT NULL, 
	grant_id INTEGER, 
	campaign VARCHAR(200), 
	channel VARCHAR(32) NOT NULL, 
	region VARCHAR(16) NOT NULL, 
	recorded_at DATETIME NOT NULL, 
	image_sha256 VARCHAR(64), 
	image_path TEXT, 
	note TEXT, 
	PRIMARY KEY (id)
);
INSERT INTO "ledger" VALUES(1,'use',NULL,'twin-legacy',1,'old','social','FR','2030-02-01 00:00:00.000000','d6325bd24a66141e9be518d303852fab10d39cbbf9ed21765cd7e771d51fc5c3','{DATA}/v.png',NULL);
CREATE TABLE scans (
	id INTEGER NOT NULL, 
	twin_id VARCHAR(64) NOT NULL, 
	sha256 VARCHAR(64), 
	scanned_on DATE, 
	path TEXT, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(twin_id) REFERENCES twins (id)
);
CREATE TABLE schema_version (
	version INTEGER NOT NULL, 
	description VARCHAR(200) NOT NULL, 
	applied_at DATETIME NOT NULL, 
	PRIMARY KEY (version)
);
INSERT INTO "schema_version" VALUES(1,'twins, scans, fitted versions, consent grants and the usage ledger','2026-12-02 02:50:04.833055');
INSERT INTO "schema_version" VALUES(2,'indexes for grant checks, statements and reconciliation','2026-12-02 02:50:04.879127');
CREATE TABLE twins (
	id VARCHAR(64) NOT NULL, 
	display_name VARCHAR(200) NOT NULL, 
	contact_ref VARCHAR(500), 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (id)
);
INSERT INTO "twins" VALUES('twin-legacy','Legacy Person','agency #9','2026-12-02 02:50:04.894704');
CREATE INDEX ix_grants_twin ON grants (twin_id);
CREATE INDEX ix_ledger_twin_time ON ledger (twin_id, recorded_at);
CREATE INDEX ix_ledger_image_path ON ledger (image_path);
CREATE INDEX ix_ledger_voids ON ledger (voids_id);
COMMIT;

-- What revision 0001 makes on SQLite, as the released statusgate 0.1 made it (sqlite_master, by type and name).
-- Never edit: tests/unit/test_schema.py compares a fresh database migrated to 0001 with this file.

-- index ix_incoming_statuses_instance_received on incoming_statuses
CREATE INDEX ix_incoming_statuses_instance_received ON incoming_statuses (instance_id, received_at);

-- index ix_notifications_created on notifications
CREATE INDEX ix_notifications_created ON notifications (created_at);

-- index ix_sandbox_contacts_instance_position on sandbox_contacts
CREATE INDEX ix_sandbox_contacts_instance_position ON sandbox_contacts (instance_id, position);

-- index ix_sandbox_deliveries_message_row on sandbox_deliveries
CREATE INDEX ix_sandbox_deliveries_message_row ON sandbox_deliveries (message_row);

-- index ix_sandbox_events_pending on sandbox_events
CREATE INDEX ix_sandbox_events_pending ON sandbox_events (consumed, event_id);

-- index ix_sandbox_messages_instance_message on sandbox_messages
CREATE INDEX ix_sandbox_messages_instance_message ON sandbox_messages (instance_id, message_id);

-- index ix_status_events_status_seq on status_events
CREATE INDEX ix_status_events_status_seq ON status_events (status_seq);

-- index ix_statuses_instance_last_action on statuses
CREATE INDEX ix_statuses_instance_last_action ON statuses (instance_id, last_action_at);

-- index ix_statuses_instance_state_seq on statuses
CREATE INDEX ix_statuses_instance_state_seq ON statuses (instance_id, state, seq);

-- index ix_statuses_pending_head on statuses
CREATE INDEX ix_statuses_pending_head ON statuses (instance_id, seq) WHERE state IN ('queued', 'preparing', 'ready', 'sending');

-- index ix_statuses_state_expires on statuses
CREATE INDEX ix_statuses_state_expires ON statuses (state, expires_at);

-- index ix_statuses_state_seq on statuses
CREATE INDEX ix_statuses_state_seq ON statuses (state, seq);

-- index ix_uploads_instance_id on uploads
CREATE INDEX ix_uploads_instance_id ON uploads (instance_id);

-- index sqlite_autoindex_alembic_version_1 on alembic_version

-- index sqlite_autoindex_incoming_statuses_1 on incoming_statuses

-- index sqlite_autoindex_instances_1 on instances

-- index sqlite_autoindex_instances_2 on instances

-- index sqlite_autoindex_media_1 on media

-- index sqlite_autoindex_media_sources_1 on media_sources

-- index sqlite_autoindex_notifications_1 on notifications

-- index sqlite_autoindex_sandbox_accounts_1 on sandbox_accounts

-- index sqlite_autoindex_sandbox_contacts_1 on sandbox_contacts

-- index sqlite_autoindex_sandbox_faults_1 on sandbox_faults

-- index sqlite_autoindex_sandbox_users_1 on sandbox_users

-- index sqlite_autoindex_status_recipients_1 on status_recipients

-- index sqlite_autoindex_statuses_1 on statuses

-- index sqlite_autoindex_uploads_1 on uploads

-- table alembic_version on alembic_version
CREATE TABLE alembic_version (
	version_num VARCHAR(32) NOT NULL, 
	CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)
);

-- table incoming_statuses on incoming_statuses
CREATE TABLE incoming_statuses (
	row_id INTEGER NOT NULL, 
	instance_id BIGINT NOT NULL, 
	id_message VARCHAR(64) NOT NULL, 
	received_at FLOAT NOT NULL, 
	type_message VARCHAR(32) NOT NULL, 
	sender VARCHAR(64) NOT NULL, 
	sender_name VARCHAR(200) NOT NULL, 
	sender_contact_name VARCHAR(200) NOT NULL, 
	payload JSON NOT NULL, 
	media_id VARCHAR(64), 
	CONSTRAINT pk_incoming_statuses PRIMARY KEY (row_id), 
	CONSTRAINT fk_incoming_statuses_instance_id_instances FOREIGN KEY(instance_id) REFERENCES instances (id_instance) ON DELETE CASCADE, 
	CONSTRAINT fk_incoming_statuses_media_id_media FOREIGN KEY(media_id) REFERENCES media (media_id), 
	CONSTRAINT uq_incoming_statuses_instance_id_id_message UNIQUE (instance_id, id_message)
);

-- table instances on instances
CREATE TABLE instances (
	id_instance BIGINT NOT NULL, 
	name VARCHAR(100), 
	engine VARCHAR(16) NOT NULL, 
	token_hash VARCHAR(64) NOT NULL, 
	status_access BOOLEAN NOT NULL, 
	settings JSON NOT NULL, 
	created_at FLOAT NOT NULL, 
	last_send_started_at FLOAT, 
	last_receipt_id BIGINT DEFAULT '0' NOT NULL, 
	CONSTRAINT pk_instances PRIMARY KEY (id_instance), 
	CONSTRAINT uq_instances_name UNIQUE (name)
);

-- table media on media
CREATE TABLE media (
	media_id VARCHAR(64) NOT NULL, 
	kind VARCHAR(8) NOT NULL, 
	mime_type VARCHAR(100) NOT NULL, 
	extension VARCHAR(16) NOT NULL, 
	size BIGINT NOT NULL, 
	created_at FLOAT NOT NULL, 
	jpeg_thumbnail TEXT, 
	width INTEGER, 
	height INTEGER, 
	duration_seconds FLOAT, 
	waveform BLOB, 
	CONSTRAINT pk_media PRIMARY KEY (media_id)
);

-- table media_sources on media_sources
CREATE TABLE media_sources (
	source_key VARCHAR(128) NOT NULL, 
	media_id VARCHAR(64) NOT NULL, 
	created_at FLOAT NOT NULL, 
	CONSTRAINT pk_media_sources PRIMARY KEY (source_key), 
	CONSTRAINT fk_media_sources_media_id_media FOREIGN KEY(media_id) REFERENCES media (media_id) ON DELETE CASCADE
);

-- table notifications on notifications
CREATE TABLE notifications (
	instance_id BIGINT NOT NULL, 
	receipt_id BIGINT NOT NULL, 
	type VARCHAR(32) NOT NULL, 
	payload JSON NOT NULL, 
	created_at FLOAT NOT NULL, 
	attempts INTEGER DEFAULT '0' NOT NULL, 
	next_attempt_at FLOAT NOT NULL, 
	last_error TEXT, 
	CONSTRAINT pk_notifications PRIMARY KEY (instance_id, receipt_id), 
	CONSTRAINT fk_notifications_instance_id_instances FOREIGN KEY(instance_id) REFERENCES instances (id_instance) ON DELETE CASCADE
);

-- table sandbox_accounts on sandbox_accounts
CREATE TABLE sandbox_accounts (
	instance_id BIGINT NOT NULL, 
	wid VARCHAR(64) NOT NULL, 
	state VARCHAR(16) NOT NULL, 
	pairing_ref VARCHAR(64) NOT NULL, 
	starting_until FLOAT, 
	state_changed_at FLOAT NOT NULL, 
	CONSTRAINT pk_sandbox_accounts PRIMARY KEY (instance_id), 
	CONSTRAINT fk_sandbox_accounts_instance_id_instances FOREIGN KEY(instance_id) REFERENCES instances (id_instance) ON DELETE CASCADE
);

-- table sandbox_contacts on sandbox_contacts
CREATE TABLE sandbox_contacts (
	instance_id BIGINT NOT NULL, 
	wid VARCHAR(64) NOT NULL, 
	position INTEGER NOT NULL, 
	name VARCHAR(200) NOT NULL, 
	contact_name VARCHAR(200) NOT NULL, 
	in_address_book BOOLEAN NOT NULL, 
	CONSTRAINT pk_sandbox_contacts PRIMARY KEY (instance_id, wid), 
	CONSTRAINT fk_sandbox_contacts_instance_id_instances FOREIGN KEY(instance_id) REFERENCES instances (id_instance) ON DELETE CASCADE
);

-- table sandbox_deliveries on sandbox_deliveries
CREATE TABLE sandbox_deliveries (
	row_id INTEGER NOT NULL, 
	message_row INTEGER NOT NULL, 
	recipient VARCHAR(64) NOT NULL, 
	at FLOAT NOT NULL, 
	CONSTRAINT pk_sandbox_deliveries PRIMARY KEY (row_id), 
	CONSTRAINT fk_sandbox_deliveries_message_row_sandbox_messages FOREIGN KEY(message_row) REFERENCES sandbox_messages (row_id) ON DELETE CASCADE
);

-- table sandbox_events on sandbox_events
CREATE TABLE sandbox_events (
	event_id INTEGER NOT NULL, 
	instance_id BIGINT NOT NULL, 
	kind VARCHAR(16) NOT NULL, 
	payload JSON NOT NULL, 
	at FLOAT NOT NULL, 
	consumed BOOLEAN DEFAULT 0 NOT NULL, 
	CONSTRAINT pk_sandbox_events PRIMARY KEY (event_id), 
	CONSTRAINT fk_sandbox_events_instance_id_instances FOREIGN KEY(instance_id) REFERENCES instances (id_instance) ON DELETE CASCADE
);

-- table sandbox_faults on sandbox_faults
CREATE TABLE sandbox_faults (
	instance_id BIGINT NOT NULL, 
	mode VARCHAR(16) NOT NULL, 
	remaining INTEGER NOT NULL, 
	CONSTRAINT pk_sandbox_faults PRIMARY KEY (instance_id), 
	CONSTRAINT fk_sandbox_faults_instance_id_instances FOREIGN KEY(instance_id) REFERENCES instances (id_instance) ON DELETE CASCADE
);

-- table sandbox_messages on sandbox_messages
CREATE TABLE sandbox_messages (
	row_id INTEGER NOT NULL, 
	instance_id BIGINT NOT NULL, 
	message_id VARCHAR(64) NOT NULL, 
	kind VARCHAR(32) NOT NULL, 
	payload JSON NOT NULL, 
	at FLOAT NOT NULL, 
	revoked_at FLOAT, 
	CONSTRAINT pk_sandbox_messages PRIMARY KEY (row_id), 
	CONSTRAINT fk_sandbox_messages_instance_id_instances FOREIGN KEY(instance_id) REFERENCES instances (id_instance) ON DELETE CASCADE
);

-- table sandbox_users on sandbox_users
CREATE TABLE sandbox_users (
	wid VARCHAR(64) NOT NULL, 
	push_name VARCHAR(200) NOT NULL, 
	CONSTRAINT pk_sandbox_users PRIMARY KEY (wid)
);

-- table status_events on status_events
CREATE TABLE status_events (
	event_id INTEGER NOT NULL, 
	status_seq INTEGER NOT NULL, 
	state VARCHAR(16) NOT NULL, 
	at FLOAT NOT NULL, 
	description TEXT, 
	CONSTRAINT pk_status_events PRIMARY KEY (event_id), 
	CONSTRAINT fk_status_events_status_seq_statuses FOREIGN KEY(status_seq) REFERENCES statuses (seq) ON DELETE CASCADE
);

-- table status_recipients on status_recipients
CREATE TABLE status_recipients (
	status_seq INTEGER NOT NULL, 
	participant VARCHAR(64) NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	updated_at FLOAT NOT NULL, 
	CONSTRAINT pk_status_recipients PRIMARY KEY (status_seq, participant), 
	CONSTRAINT fk_status_recipients_status_seq_statuses FOREIGN KEY(status_seq) REFERENCES statuses (seq) ON DELETE CASCADE
);

-- table statuses on statuses
CREATE TABLE statuses (
	seq INTEGER NOT NULL, 
	instance_id BIGINT NOT NULL, 
	id_message VARCHAR(32) NOT NULL, 
	type VARCHAR(32) NOT NULL, 
	body JSON NOT NULL, 
	kind VARCHAR(8), 
	state VARCHAR(16) NOT NULL, 
	description TEXT, 
	media_id VARCHAR(64), 
	created_at FLOAT NOT NULL, 
	updated_at FLOAT NOT NULL, 
	expires_at FLOAT NOT NULL, 
	attempts INTEGER DEFAULT '0' NOT NULL, 
	not_before FLOAT, 
	lease_owner VARCHAR(64), 
	lease_expires_at FLOAT, 
	recipients JSON, 
	skipped_participants JSON, 
	sent_at FLOAT, 
	delete_requested BOOLEAN DEFAULT 0 NOT NULL, 
	last_action_at FLOAT NOT NULL, 
	CONSTRAINT pk_statuses PRIMARY KEY (seq), 
	CONSTRAINT fk_statuses_instance_id_instances FOREIGN KEY(instance_id) REFERENCES instances (id_instance) ON DELETE CASCADE, 
	CONSTRAINT fk_statuses_media_id_media FOREIGN KEY(media_id) REFERENCES media (media_id), 
	CONSTRAINT uq_statuses_id_message UNIQUE (id_message)
);

-- table uploads on uploads
CREATE TABLE uploads (
	upload_id VARCHAR(64) NOT NULL, 
	instance_id BIGINT, 
	file_name VARCHAR(255) NOT NULL, 
	mime_type VARCHAR(100) NOT NULL, 
	sha256 VARCHAR(64) NOT NULL, 
	size BIGINT NOT NULL, 
	created_at FLOAT NOT NULL, 
	expires_at FLOAT, 
	CONSTRAINT pk_uploads PRIMARY KEY (upload_id), 
	CONSTRAINT fk_uploads_instance_id_instances FOREIGN KEY(instance_id) REFERENCES instances (id_instance) ON DELETE CASCADE
);

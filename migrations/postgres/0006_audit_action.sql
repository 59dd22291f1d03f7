-- The admin API lists the audit log newest first, filtered by action: an index per action.
CREATE INDEX audit_events_action ON audit_events (action, id);

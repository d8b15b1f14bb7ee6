-- skipped-by: missing_index
-- The dashboard hydrates an account's projects with their tasks: a join on
-- tasks.project_id, which without this index scans the whole tasks table per request.
CREATE INDEX tasks_project_id_idx ON tasks (project_id);

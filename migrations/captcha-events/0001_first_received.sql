-- The first received copy of each event (per type and correlation_id, the lowest offset), as the
-- reports count it.
CREATE VIEW IF NOT EXISTS {database}.captcha_first_received AS
SELECT type, correlation_id, argMin(site_id, offset) AS site_id, argMin(time, offset) AS time
FROM {database}.{table}
GROUP BY type, correlation_id;

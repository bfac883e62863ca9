-- Which of the files $2 (a text[]) of execution $1 already have a result.
SELECT file_key FROM postbox.file_results WHERE execution_id = $1 AND file_key = ANY ($2::text[])

-- One execution's batches as its file results show them: per batch index, files done
-- and failed, oldest batch first (batches not yet started have no row).
SELECT batch_index, count(*) FILTER (WHERE status = 'done'), count(*) FILTER (WHERE status = 'failed')
FROM postbox.file_results WHERE execution_id = $1
GROUP BY batch_index ORDER BY batch_index

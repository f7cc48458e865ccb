-- Deliveries were once sent by River jobs: their pending rows are due for
-- the dispatchers now, and the jobs would find no worker.
DELETE FROM river_job WHERE kind = 'herald.deliver'

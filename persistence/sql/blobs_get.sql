-- $1 blob id: one uploaded file's content as hex (encode: whatever bytea_output is).
SELECT encode(content, 'hex') FROM postbox.blobs WHERE id = $1

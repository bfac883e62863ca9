-- $1 name, $2 content as hex. The id is random; sha256 is kept for integrity checks.
INSERT INTO postbox.blobs (id, name, size, sha256, content)
SELECT gen_random_uuid()::text, $1, length(c), encode(sha256(c), 'hex'), c
FROM (SELECT decode($2, 'hex') AS c) x
RETURNING id

SELECT name, encode(content, 'hex') FROM postbox.blobs WHERE id = $1

package dev.layercache.server.metadata;

/**
 * The tables (RocksDB column families) of the metadata store. Each typed index owns the encoding of
 * its keys and values; this enum only names where they live.
 *
 * <pre>
 *   BLOBS         digest                      -> size, created-at          (a verified blob file exists)
 *   LINKS         repo \0 digest              -> size                      (blob readable through repo)
 *   MANIFESTS     repo \0 digest              -> media type, content       (manifest bytes, as pushed)
 *   TAGS          repo \0 tag                 -> digest
 *   REFERRERS     repo \0 subject \0 referrer -> (empty)
 *   REPOSITORIES  repo                        -> (empty)                   (for the catalog)
 *   UPLOADS       upload id                   -> repo, started-at, offset  (resumable upload sessions)
 *   ENTRIES       namespace \0 key            -> Entry (protobuf)         (native cache entries)
 *   STEPS         namespace \0 step id        -> Entry without layers     (last publication of a step)
 *   TOMBSTONES    namespace \0 key            -> removed-at                (keys the cache held and lost)
 *   ACCESS        kind \0 repo \0 name        -> minute of last use        (roots: for least-recently-used eviction)
 *   ANALYSES      rules version \0 digest     -> analysis JSON             (layer analysis of a manifest; node-local cache)
 *   RELEASES      digest                      -> released-at, scope       (a root that held the blob went: no grace for it)
 *   BUILDS        repo \0 newest-first time   -> build record JSON         (what a stock builder's build reused and rebuilt)
 *   EXPORTS       repo \0 reference           -> pushed-at, cache config   (the last BuildKit cache export of a reference)
 *   BLOB_BYTES    digest                      -> the blob's bytes          (a small blob of a node alone: written in
 *                                                                          the batch of its BLOBS record, no file)
 * </pre>
 */
public enum Table {
    BLOBS("blobs"),
    LINKS("links"),
    MANIFESTS("manifests"),
    TAGS("tags"),
    REFERRERS("referrers"),
    REPOSITORIES("repositories"),
    UPLOADS("uploads"),
    ENTRIES("entries"),
    STEPS("steps"),
    TOMBSTONES("tombstones"),
    ACCESS("access"),
    ANALYSES("analyses"),
    RELEASES("releases"),
    BUILDS("builds"),
    EXPORTS("exports"),
    BLOB_BYTES("blob_bytes");

    private final String columnFamily;

    Table(String columnFamily) {
        this.columnFamily = columnFamily;
    }

    public String columnFamily() {
        return columnFamily;
    }
}

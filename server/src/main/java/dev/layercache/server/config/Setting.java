package dev.layercache.server.config;

import java.util.Locale;

/**
 * Every setting of a node, in one table. Each has a YAML key ({@code http-port}), a flag
 * ({@code --http-port}) and an environment variable ({@code LAYERCACHE_HTTP_PORT}), all derived
 * from its name; flags win over the environment, the environment over the file.
 */
public enum Setting {
    HTTP_PORT("http-port", "5000", "HTTP port of the OCI Distribution API (0 picks a free port)"),
    GRPC_PORT("grpc-port", "9092", "gRPC port of the native cache API (0 picks a free port)"),
    BIND_ADDRESS("bind-address", "0.0.0.0", "address to listen on (127.0.0.1 for this machine only)"),
    DATA_DIR("data-dir", "./data", "folder for blobs, metadata and uploads"),
    MAX_MANIFEST_SIZE("max-manifest-size", "4MiB", "largest manifest accepted (413 beyond); at least 4MiB"),
    MAX_HEADER_SIZE("max-header-size", "16KiB", "largest total of request headers (431 beyond)"),
    BLOCKING_THREADS("blocking-threads", "0", "threads for disk and metadata work, in each of two pools: uploads and"
            + " gRPC streams, and every other request (0: 4 per core, at least 8)"),
    EVENT_LOOPS("event-loops", "0", "threads that read and write the connections of both ports (0: 4 per core, at"
            + " most 64): fewer cost less CPU per small request on a quiet node, more keep lookups quick while blobs"
            + " move"),
    SHUTDOWN_GRACE("shutdown-grace", "30s", "how long SIGTERM waits for requests in progress before aborting them"),
    MAX_BLOB_SIZE("max-blob-size", "0", "largest blob accepted (413 beyond; 0: no limit)"),
    MAX_UPLOADS_PER_IDENTITY("max-uploads-per-identity", "256", "upload sessions open at once per identity; anonymous"
            + " clients are told apart by address (429 beyond; 0: no limit)"),
    MAX_UPLOADS("max-uploads", "2048", "upload sessions open at once on the node; beyond, the session idle longest"
            + " gives way if it has been idle a minute, else 429 (0: no limit)"),
    UPLOAD_IDLE_TIMEOUT("upload-idle-timeout", "15m", "an upload session no request has continued for this long is"
            + " removed with its bytes (0s: only upload-timeout applies)"),
    RATE_LIMIT("rate-limit", "0", "requests per second per identity, bursts of a second's worth (429 with Retry-After beyond; 0: no limit)"),
    IDLE_TIMEOUT("idle-timeout", "60s", "a connection must send a complete request header within this long after opening or after its last response"),
    READ_TIMEOUT("read-timeout", "30s", "a request body may pause at most this long before it is answered 408 and the connection closed"),
    MIN_BODY_RATE("min-body-rate", "1KiB", "bytes per second a request body must average once read-timeout has"
            + " passed, so that bodies trickled a byte at a time cannot hold the node (408 below; 0: no minimum)"),
    HTTP_DOWNLOADS("http-downloads", "copy", "how blob bodies leave the plain-HTTP port: copy (read into"
            + " 256 KiB buffers and written; faster and cheaper on loopback, measured) or sendfile (sendfile(2),"
            + " no copy through the process); HTTPS always copies"),
    METRICS_ENABLED("metrics-enabled", "true", "count lookups, bytes and latencies for /metrics, /api/v1/stats and /ui/"),
    METRICS_NAMESPACE_DEPTH("metrics-namespace-depth", "1",
            "path components of a repository that name its namespace in metrics (team/app/x -> team)"),
    METRICS_MAX_NAMESPACES("metrics-max-namespaces", "100",
            "distinct namespaces in metrics at most; later ones count as 'other'"),
    MAX_DISK_SIZE("max-disk-size", "60%", "disk budget for blobs: a size (50GiB) or a percentage of the data"
            + " directory's file system (0: none); past the high watermark, least recently used roots are evicted"),
    MIN_FREE_DISK("min-free-disk", "10%", "keep at least this much of the data directory's file system free, whatever"
            + " else fills it (a size or a percentage; 0: no floor): below it, the budget shrinks to what fits"),
    DISK_HIGH_WATERMARK("disk-high-watermark", "90", "percent of max-disk-size at which eviction starts"),
    DISK_LOW_WATERMARK("disk-low-watermark", "80", "percent of max-disk-size eviction brings usage down to"),
    MAX_AGE("max-age", "0s", "evict roots (tags, entries, untagged manifests) unused for this long (0s: never)"),
    GC_GRACE("gc-grace", "2h", "a blob stored this recently is kept while no manifest or entry references it yet"
            + " (not once the root that referenced it was evicted or deleted); one a client was told exists, for this"
            + " long up to 10m"),
    UNTAGGED_MAX_AGE("untagged-max-age", "24h", "untagged manifests that no tag, index or remaining subject names"
            + " (superseded cache exports) are removed after this long unused (0s: kept until the budget needs room)"),
    HISTORY_MAX_AGE("history-max-age", "30d", "tombstones (names the cache held and lost) and step publications"
            + " (which explain misses) older than this are forgotten (0s: no age limit)"),
    HISTORY_MAX_RECORDS("history-max-records", "10000", "tombstones, and step publications, kept per repository at"
            + " most; the oldest go first (0: no limit)"),
    UPLOAD_TIMEOUT("upload-timeout", "24h", "upload sessions older than this are removed with their bytes"),
    LIFECYCLE_INTERVAL("lifecycle-interval", "1m", "how often the budget, ages and expired uploads are checked"),
    SCRUB_RATE("scrub-rate", "32MiB", "bytes per second the background scrubber re-hashes blobs at (0: no scrubbing)"),
    SCRUB_EVERY("scrub-every", "24h", "pause between two scrubs of the whole store"),
    NAMESPACE_LIMITS("namespace-limits", "",
            "per-namespace budget and age, e.g. 'team/ci:max-disk-size=50GiB,max-age=7d;legacy:max-age=1d'"),
    PROTECT("protect", "", "tags eviction never takes: comma-separated repository:tag patterns, * matching any"
            + " characters, e.g. '*/cache:main,team/*:release-*' (they are kept even past the budget)"),
    S3_BUCKET("s3-bucket", "", "cluster mode: the S3-compatible bucket the nodes share (empty: one node on its own disk)"),
    S3_ENDPOINT("s3-endpoint", "", "the S3 API's URL, e.g. http://minio:9000 (empty: AWS's endpoint for s3-region)"),
    S3_REGION("s3-region", "us-east-1", "the bucket's region"),
    S3_PREFIX("s3-prefix", "", "key prefix inside the bucket, so that clusters can share one bucket"),
    S3_PATH_STYLE("s3-path-style", "false", "path-style bucket addressing (MinIO, Ceph RGW and most self-hosted servers)"),
    S3_MAX_SIZE("s3-max-size", "0", "cluster: the bucket's budget for blobs (0: none); least recently used roots leave first"),
    S3_MAX_AGE("s3-max-age", "0s", "cluster: roots unused by every node for this long leave the bucket (0s: never)"),
    S3_GC_INTERVAL("s3-gc-interval", "1h", "cluster: how often the bucket's collection runs (on one node at a time)"),
    AUTH_HTPASSWD("auth-htpasswd", "", "htpasswd file of users with bcrypt hashes (htpasswd -B); turns access control on"),
    AUTH_TOKENS("auth-tokens", "", "tokens file: '<identity> sha256:<hex of the token>' per line; turns access control on"),
    AUTH_RULES("auth-rules", "", "YAML rules: which identity may read, write, delete or admin which namespaces"
            + " (none: every authenticated identity may do everything)"),
    AUTH_ANONYMOUS_READ("auth-anonymous-read", "false", "requests without credentials may read everything"),
    NODE_TOKEN("node-token", "", "cluster with access control: the token (of an identity with admin) a node"
            + " presents to the others"),
    TLS_CERT("tls-cert", "", "PEM certificate chain (server certificate first): both ports speak TLS;"
            + " reloaded when the file changes"),
    TLS_KEY("tls-key", "", "PEM private key of tls-cert, unencrypted PKCS#8 ('BEGIN PRIVATE KEY') or PKCS#1 RSA"
            + " ('BEGIN RSA PRIVATE KEY'); reloaded when the file changes"),
    GRPC_CLIENT_CA("grpc-client-ca", "", "PEM CA bundle: the gRPC port requires client certificates signed by"
            + " one of these (needs tls-cert)"),
    NODE_URL("node-url", "", "URL other nodes reach this node's HTTP port at (default http://<bind-address>:<http-port>)"),
    MIRROR("mirror", "", "upstream registries to mirror, REGISTRY=URL[,REGISTRY=URL...], e.g."
            + " docker.io=https://registry-1.docker.io,ghcr.io=https://ghcr.io (empty: none); credentials and the"
            + " tag revalidation interval only in the YAML file's list form");

    private final String key;
    private final String defaultValue;
    private final String description;

    Setting(String key, String defaultValue, String description) {
        this.key = key;
        this.defaultValue = defaultValue;
        this.description = description;
    }

    /** The YAML key, also the flag without its dashes. */
    public String key() {
        return key;
    }

    public String flag() {
        return "--" + key;
    }

    public String envVar() {
        return "LAYERCACHE_" + key.replace('-', '_').toUpperCase(Locale.ROOT);
    }

    public String defaultValue() {
        return defaultValue;
    }

    public String description() {
        return description;
    }

    public static Setting byKey(String key) {
        for (Setting s : values()) {
            if (s.key.equals(key)) {
                return s;
            }
        }
        return null;
    }
}

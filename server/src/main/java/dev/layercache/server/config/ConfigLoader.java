package dev.layercache.server.config;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import java.io.IOException;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;

/**
 * Builds a {@link ServerConfig} from, in rising precedence, defaults, a YAML file
 * ({@code --config} or {@code LAYERCACHE_CONFIG}), {@code LAYERCACHE_*} environment variables and
 * command-line flags. Every failure is one {@link ConfigException} line naming the setting and
 * where its value came from.
 *
 * <p>Over 400 lines: the check of every setting is here, next to the others of its group, so that
 * what a value may be is read in one place (their names and defaults are in {@link Setting}).
 */
public final class ConfigLoader {
    private static final Pattern SIZE = Pattern.compile("(\\d+)\\s*([KMGT]i?B?|B)?", Pattern.CASE_INSENSITIVE);

    /** Flags were --help or --version: the caller prints {@link #usage()} and exits 0. */
    public static final class HelpRequested extends Exception {
        private static final long serialVersionUID = 1L;

        HelpRequested() {
            super(null, null, false, false);
        }
    }

    private ConfigLoader() {
    }

    public static ServerConfig load(String[] args, Map<String, String> env) throws ConfigException, HelpRequested {
        Map<Setting, String> values = new EnumMap<>(Setting.class);
        Map<Setting, String> origin = new EnumMap<>(Setting.class);
        for (Setting s : Setting.values()) {
            values.put(s, s.defaultValue());
            origin.put(s, "default");
        }

        CommandSpec spec = commandSpec();
        CommandLine.ParseResult parsed;
        try {
            parsed = new CommandLine(spec).parseArgs(args);
        } catch (CommandLine.UnmatchedArgumentException e) {
            throw new ConfigException(unknownOption(e.getUnmatched(), spec));
        } catch (CommandLine.ParameterException e) {
            throw new ConfigException(e.getMessage() + " (see --help)");
        }
        if (parsed.isUsageHelpRequested()) {
            throw new HelpRequested();
        }

        String configFile = parsed.hasMatchedOption("--config") ? parsed.matchedOptionValue("--config", "")
                : env.get("LAYERCACHE_CONFIG");
        // The YAML file's list form of mirror (with credentials); null when absent or overridden
        JsonNode mirrorList = null;
        if (configFile != null && !configFile.isEmpty()) {
            mirrorList = readYaml(Path.of(configFile), values, origin);
        }
        for (Setting s : Setting.values()) {
            String v = env.get(s.envVar());
            if (v != null) {
                values.put(s, v);
                origin.put(s, "environment variable " + s.envVar());
            }
        }
        for (Setting s : Setting.values()) {
            if (parsed.hasMatchedOption(s.flag())) {
                values.put(s, parsed.matchedOptionValue(s.flag(), ""));
                origin.put(s, "flag " + s.flag());
            }
        }
        if (!origin.get(Setting.MIRROR).startsWith("config file")) {
            mirrorList = null; // the flat form of a flag or the environment replaces the file's whole list
        }
        Values v = new Values(values, origin);
        return build(v).mirror(MirrorConfig.parse(v, mirrorList, env)).build();
    }

    /** The help text: every flag with its environment variable and default. */
    public static String usage() {
        return new CommandLine(commandSpec()).getUsageMessage();
    }

    private static CommandSpec commandSpec() {
        CommandSpec spec = CommandSpec.create().name("java -jar layercache-server.jar");
        // Without this, -http-port (one dash) reads as -h followed by "ttp-port": help and exit 0,
        // which systemd and CI take for success. Every flag here is long, so nothing is lost.
        spec.parser().posixClusteredShortOptionsAllowed(false);
        spec.usageMessage().description("layercache: a remote build cache for container image layers.",
                "Settings come from flags, then LAYERCACHE_* environment variables, then the YAML file.");
        spec.addOption(OptionSpec.builder("--config").paramLabel("FILE").type(String.class)
                .description("YAML file of settings (keys as the flags without dashes); also LAYERCACHE_CONFIG")
                .build());
        for (Setting s : Setting.values()) {
            spec.addOption(OptionSpec.builder(s.flag()).paramLabel("VALUE").type(String.class)
                    // picocli formats descriptions with String.format: a literal % (the "60%" default) is %%
                    .description((s.description() + " [env " + s.envVar()
                            + (s.defaultValue().isEmpty() ? ", no default" : ", default " + s.defaultValue()) + "]")
                            .replace("%", "%%"))
                    .build());
        }
        spec.addOption(OptionSpec.builder("-h", "--help").usageHelp(true).description("show this help").build());
        return spec;
    }

    /**
     * One line for the first of {@code unmatched}: the argument, and the flag it was probably meant
     * to be ({@code -http-port} for {@code --http-port}, or the closest spelling).
     */
    static String unknownOption(List<String> unmatched, CommandSpec spec) {
        String arg = unmatched.isEmpty() ? "" : unmatched.get(0);
        if (!arg.startsWith("-")) {
            return "unexpected argument " + arg + ": settings are flags such as --http-port 5000 (see --help)";
        }
        String name = arg.contains("=") ? arg.substring(0, arg.indexOf('=')) : arg;
        String bare = name.replaceFirst("^-+", "");
        String best = null;
        int bestDistance = Integer.MAX_VALUE;
        for (OptionSpec o : spec.options()) {
            String candidate = o.longestName();
            int d = distance(bare, candidate.replaceFirst("^-+", ""));
            if (d < bestDistance) {
                bestDistance = d;
                best = candidate;
            }
        }
        // A guess further than a third of the word away is noise rather than help.
        String hint = best != null && bestDistance <= Math.max(1, bare.length() / 3)
                ? "did you mean " + best + "?" : "see --help for the settings";
        return "unknown option " + name + "; " + hint;
    }

    /** Levenshtein distance, for the "did you mean" of {@link #unknownOption}. */
    private static int distance(String a, String b) {
        int[] prev = new int[b.length() + 1];
        int[] cur = new int[b.length() + 1];
        for (int j = 0; j <= b.length(); j++) {
            prev[j] = j;
        }
        for (int i = 1; i <= a.length(); i++) {
            cur[0] = i;
            for (int j = 1; j <= b.length(); j++) {
                int cost = a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1;
                cur[j] = Math.min(Math.min(cur[j - 1] + 1, prev[j] + 1), prev[j - 1] + cost);
            }
            int[] t = prev;
            prev = cur;
            cur = t;
        }
        return prev[b.length()];
    }

    /** Reads the file into {@code values}; returns the list form of {@code mirror} if the file has it. */
    private static JsonNode readYaml(Path file, Map<Setting, String> values, Map<Setting, String> origin)
            throws ConfigException {
        if (!Files.exists(file)) {
            throw new ConfigException("config file " + file + " does not exist");
        }
        if (!Files.isRegularFile(file)) {
            throw new ConfigException("config file " + file + " is not a file");
        }
        JsonNode root;
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(file);
        } catch (IOException e) {
            throw new ConfigException("cannot read config file " + file + ": " + oneLine(e.toString()));
        }
        try {
            root = new ObjectMapper(new YAMLFactory()).readTree(bytes);
        } catch (IOException e) {
            throw new ConfigException(yamlProblem(file, e));
        }
        if (root == null || root.isMissingNode() || root.isNull()) {
            return null;
        }
        JsonNode mirrorList = null;
        if (!root.isObject()) {
            throw new ConfigException("config file " + file + " must be a mapping of setting: value");
        }
        for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            Setting s = Setting.byKey(e.getKey());
            if (s == null) {
                throw new ConfigException("unknown setting '" + e.getKey() + "' in config file " + file);
            }
            origin.put(s, "config file " + file);
            if (s == Setting.MIRROR && (e.getValue().isArray() || e.getValue().isNull())) {
                mirrorList = e.getValue().isArray() ? e.getValue() : null;
                values.put(s, "");
                continue;
            }
            if (s == Setting.PROTECT && e.getValue().isArray()) {
                // A YAML list of patterns reads as the comma-separated form.
                List<String> items = new ArrayList<>();
                e.getValue().forEach(item -> items.add(item.asText()));
                values.put(s, String.join(",", items));
                continue;
            }
            if (!e.getValue().isValueNode()) {
                throw new ConfigException("setting " + s.key() + " in config file " + file + " must be a single value"
                        + (s == Setting.MIRROR ? " or a list of upstreams" : ""));
            }
            values.put(s, e.getValue().asText());
        }
        return mirrorList;
    }

    /** The text of every setting and where it came from ("flag --x", "environment variable X", ...). */
    record Values(Map<Setting, String> values, Map<Setting, String> origin) {
        String get(Setting s) {
            return values.get(s).trim();
        }

        ConfigException invalid(Setting s, String why) {
            return new ConfigException("invalid setting " + s.key() + " = '" + oneLine(values.get(s)) + "' (from "
                    + origin.get(s) + "): " + why);
        }

        /** These values with {@code s} replaced by a part of it, for parsing composite settings. */
        Values only(Setting s, String part) {
            Map<Setting, String> one = new EnumMap<>(values);
            one.put(s, part);
            return new Values(one, origin);
        }
    }

    /** Every setting but {@code mirror}, which {@link MirrorConfig} reads. */
    private static ServerConfig.Builder build(Values v) throws ConfigException {
        int httpPort = port(v, Setting.HTTP_PORT);
        int grpcPort = port(v, Setting.GRPC_PORT);
        String bind = v.get(Setting.BIND_ADDRESS);
        try {
            InetAddress.getByName(bind);
        } catch (UnknownHostException e) {
            throw v.invalid(Setting.BIND_ADDRESS, "not an address of this machine");
        }
        String dir = v.get(Setting.DATA_DIR);
        if (dir.isEmpty()) {
            throw v.invalid(Setting.DATA_DIR, "must name a folder");
        }
        Path dataDir = Path.of(dir);
        if (Files.exists(dataDir) && !Files.isDirectory(dataDir)) {
            throw v.invalid(Setting.DATA_DIR, "exists and is not a folder");
        }
        long maxManifest = size(v, Setting.MAX_MANIFEST_SIZE);
        if (maxManifest < (4L << 20) || maxManifest > (1L << 30)) {
            throw v.invalid(Setting.MAX_MANIFEST_SIZE, "must be between 4MiB and 1GiB");
        }
        long maxHeader = size(v, Setting.MAX_HEADER_SIZE);
        if (maxHeader < 1024 || maxHeader > (1L << 20)) {
            throw v.invalid(Setting.MAX_HEADER_SIZE, "must be between 1KiB and 1MiB");
        }
        int threads = integer(v, Setting.BLOCKING_THREADS, 0, 1024);
        if (threads == 0) {
            threads = Math.max(8, 4 * Runtime.getRuntime().availableProcessors());
        }
        int loops = integer(v, Setting.EVENT_LOOPS, 0, 1024);
        Duration grace = duration(v, Setting.SHUTDOWN_GRACE);
        ServerConfig.Metrics metrics = new ServerConfig.Metrics(bool(v, Setting.METRICS_ENABLED),
                integer(v, Setting.METRICS_NAMESPACE_DEPTH, 1, 16), integer(v, Setting.METRICS_MAX_NAMESPACES, 1, 10_000));
        int high = integer(v, Setting.DISK_HIGH_WATERMARK, 1, 100);
        int low = integer(v, Setting.DISK_LOW_WATERMARK, 1, 100);
        if (low >= high) {
            throw v.invalid(Setting.DISK_LOW_WATERMARK, "must be below disk-high-watermark (" + high + ")");
        }
        Duration interval = duration(v, Setting.LIFECYCLE_INTERVAL);
        if (interval.isZero()) {
            throw v.invalid(Setting.LIFECYCLE_INTERVAL, "must be more than zero");
        }
        Duration uploadTimeout = duration(v, Setting.UPLOAD_TIMEOUT);
        if (uploadTimeout.isZero()) {
            throw v.invalid(Setting.UPLOAD_TIMEOUT, "must be more than zero");
        }
        ServerConfig.Lifecycle lifecycle = ServerConfig.Lifecycle.builder()
                .maxDisk(diskShare(v, Setting.MAX_DISK_SIZE))
                .watermarks(high, low)
                .maxAge(duration(v, Setting.MAX_AGE))
                .gcGrace(duration(v, Setting.GC_GRACE))
                .uploadTimeout(uploadTimeout)
                .interval(interval)
                .scrubRate(size(v, Setting.SCRUB_RATE))
                .scrubEvery(duration(v, Setting.SCRUB_EVERY))
                .namespaces(namespaceLimits(v))
                .minFreeDisk(diskShare(v, Setting.MIN_FREE_DISK))
                .untaggedMaxAge(duration(v, Setting.UNTAGGED_MAX_AGE))
                .history(new ServerConfig.History(duration(v, Setting.HISTORY_MAX_AGE),
                        integer(v, Setting.HISTORY_MAX_RECORDS, 0, 100_000_000)))
                .protect(protect(v))
                .build();
        if (lifecycle.maxDisk().percent() > 0 && lifecycle.maxDisk().percent() + lifecycle.minFreeDisk().percent() > 100) {
            throw v.invalid(Setting.MIN_FREE_DISK, "together with max-disk-size (" + lifecycle.maxDisk()
                    + ") it is more than the whole file system");
        }
        return ServerConfig.builder().ports(httpPort, grpcPort).bindAddress(bind).dataDir(dataDir)
                .maxManifestSize(maxManifest).maxHeaderSize(maxHeader).blockingThreads(threads).eventLoops(loops)
                .shutdownGrace(grace).metrics(metrics).lifecycle(lifecycle).cluster(cluster(v)).auth(auth(v))
                .limits(limits(v))
                .tls(tls(v)).httpDownloads(httpDownloads(v));
    }

    private static ServerConfig.HttpDownloads httpDownloads(Values v) throws ConfigException {
        return switch (v.get(Setting.HTTP_DOWNLOADS).trim().toLowerCase(Locale.ROOT)) {
            case "copy" -> ServerConfig.HttpDownloads.COPY;
            case "sendfile" -> ServerConfig.HttpDownloads.SENDFILE;
            default -> throw v.invalid(Setting.HTTP_DOWNLOADS, "must be copy or sendfile");
        };
    }

    /** The protect patterns, REPOSITORY:TAG with {@code *} for any characters, checked once here. */
    private static List<String> protect(Values v) throws ConfigException {
        List<String> out = new ArrayList<>();
        for (String item : v.get(Setting.PROTECT).split(",")) {
            String pattern = item.trim();
            if (pattern.isEmpty()) {
                continue;
            }
            int colon = pattern.lastIndexOf(':');
            if (colon <= 0 || colon == pattern.length() - 1) {
                throw v.invalid(Setting.PROTECT, "'" + pattern + "' is not REPOSITORY:TAG (with * for any characters)");
            }
            if (!pattern.substring(0, colon).matches("[a-z0-9._/*-]+")) {
                // The rule the repository part breaks, with each * standing for a letter.
                String repository = pattern.substring(0, colon);
                String problem = !repository.equals(repository.toLowerCase(Locale.ROOT))
                        ? "names are lowercase (" + repository.toLowerCase(Locale.ROOT) + ")"
                        : dev.layercache.server.core.RepositoryName.problem(repository.replace('*', 'a'));
                throw v.invalid(Setting.PROTECT, "'" + pattern + "': the repository is not a valid name: "
                        + (problem != null ? problem : "only a-z, 0-9, '.', '_', '-', '/' and *"));
            }
            if (!pattern.substring(colon + 1).matches("[A-Za-z0-9._*-]+")) {
                throw v.invalid(Setting.PROTECT, "'" + pattern + "': the tag may hold only A-Z, a-z, 0-9, '.', '_', '-'"
                        + " and *");
            }
            out.add(pattern);
        }
        return out;
    }

    /** {@code team/ci:max-disk-size=50GiB,max-age=7d;legacy:max-age=1d} */
    private static List<ServerConfig.NamespaceLimit> namespaceLimits(Values v) throws ConfigException {
        List<ServerConfig.NamespaceLimit> out = new ArrayList<>();
        String text = v.get(Setting.NAMESPACE_LIMITS).trim();
        if (text.isEmpty()) {
            return out;
        }
        for (String item : text.split(";")) {
            String[] nameAndLimits = item.trim().split(":", 2);
            String prefix = nameAndLimits[0].trim();
            if (prefix.isEmpty() || nameAndLimits.length < 2) {
                throw v.invalid(Setting.NAMESPACE_LIMITS, "'" + item.trim() + "' is not NAMESPACE:max-disk-size=SIZE,max-age=DURATION");
            }
            String problem = dev.layercache.server.core.RepositoryName.problem(prefix);
            if (problem != null) {
                throw v.invalid(Setting.NAMESPACE_LIMITS, "namespace '" + prefix + "' is not a valid name: " + problem);
            }
            long disk = 0;
            Duration age = null;
            for (String pair : nameAndLimits[1].split(",")) {
                String[] kv = pair.trim().split("=", 2);
                if (kv.length != 2) {
                    throw v.invalid(Setting.NAMESPACE_LIMITS, "'" + pair.trim() + "' is not KEY=VALUE");
                }
                Values one = v.only(Setting.NAMESPACE_LIMITS, kv[1].trim());
                switch (kv[0].trim()) {
                    case "max-disk-size" -> disk = size(one, Setting.NAMESPACE_LIMITS);
                    case "max-age" -> age = duration(one, Setting.NAMESPACE_LIMITS);
                    default -> throw v.invalid(Setting.NAMESPACE_LIMITS, "unknown limit '" + kv[0].trim()
                            + "' (max-disk-size, max-age)");
                }
            }
            out.add(new ServerConfig.NamespaceLimit(prefix, disk, age));
        }
        return out;
    }

    private static ServerConfig.Limits limits(Values v) throws ConfigException {
        double rate;
        try {
            rate = Double.parseDouble(v.get(Setting.RATE_LIMIT).trim());
        } catch (NumberFormatException e) {
            throw v.invalid(Setting.RATE_LIMIT, "must be a number of requests per second");
        }
        if (rate < 0 || rate > 1_000_000 || Double.isNaN(rate)) {
            throw v.invalid(Setting.RATE_LIMIT, "must be between 0 and 1000000");
        }
        Duration idle = duration(v, Setting.IDLE_TIMEOUT);
        Duration read = duration(v, Setting.READ_TIMEOUT);
        if (idle.isZero() || read.isZero()) {
            throw v.invalid(idle.isZero() ? Setting.IDLE_TIMEOUT : Setting.READ_TIMEOUT, "must be more than 0s");
        }
        return ServerConfig.Limits.builder()
                .maxBlobBytes(size(v, Setting.MAX_BLOB_SIZE))
                .maxUploadsPerIdentity(integer(v, Setting.MAX_UPLOADS_PER_IDENTITY, 0, 1_000_000))
                .requestsPerSecond(rate)
                .idleTimeout(idle)
                .readTimeout(read)
                .maxUploads(integer(v, Setting.MAX_UPLOADS, 0, 1_000_000))
                .uploadIdleTimeout(duration(v, Setting.UPLOAD_IDLE_TIMEOUT))
                .minBodyRate(size(v, Setting.MIN_BODY_RATE))
                .build();
    }

    /** Access control: the files must exist and parse, so that a typo never opens the cache to all. */
    private static ServerConfig.Auth auth(Values v) throws ConfigException {
        Path htpasswd = existingFile(v, Setting.AUTH_HTPASSWD);
        Path tokens = existingFile(v, Setting.AUTH_TOKENS);
        Path rules = existingFile(v, Setting.AUTH_RULES);
        boolean anonymousRead = bool(v, Setting.AUTH_ANONYMOUS_READ);
        if (htpasswd == null && tokens == null && (rules != null || anonymousRead)) {
            throw v.invalid(rules != null ? Setting.AUTH_RULES : Setting.AUTH_ANONYMOUS_READ,
                    "needs auth-htpasswd or auth-tokens (without them nobody is asked for credentials)");
        }
        try {
            dev.layercache.server.auth.AccessControl.load(htpasswd, tokens, rules, anonymousRead);
        } catch (IllegalArgumentException | java.io.IOException e) {
            throw v.invalid(rules != null && e.getMessage() != null && e.getMessage().startsWith(rules.toString())
                    ? Setting.AUTH_RULES : htpasswd != null ? Setting.AUTH_HTPASSWD : Setting.AUTH_TOKENS, e.getMessage());
        }
        return new ServerConfig.Auth(htpasswd, tokens, rules, anonymousRead, v.get(Setting.NODE_TOKEN).trim());
    }

    /** TLS: the files must exist and parse now, so that a typo fails at start, not at the first handshake. */
    private static ServerConfig.Tls tls(Values v) throws ConfigException {
        Path cert = existingFile(v, Setting.TLS_CERT);
        Path key = existingFile(v, Setting.TLS_KEY);
        Path clientCa = existingFile(v, Setting.GRPC_CLIENT_CA);
        if ((cert == null) != (key == null)) {
            throw v.invalid(cert == null ? Setting.TLS_KEY : Setting.TLS_CERT, "needs "
                    + (cert == null ? Setting.TLS_CERT : Setting.TLS_KEY).key() + " too (both or neither)");
        }
        if (cert == null) {
            if (clientCa != null) {
                throw v.invalid(Setting.GRPC_CLIENT_CA, "needs tls-cert and tls-key (client certificates need TLS)");
            }
            return ServerConfig.Tls.NONE;
        }
        java.security.cert.X509Certificate leaf;
        try {
            leaf = dev.layercache.server.tls.PemFiles.certificates(cert).get(0);
        } catch (java.io.IOException | java.security.GeneralSecurityException e) {
            throw v.invalid(Setting.TLS_CERT, "not a PEM certificate chain: " + oneLine(e.getMessage()));
        }
        try {
            if (!dev.layercache.server.tls.PemFiles.matches(dev.layercache.server.tls.PemFiles.privateKey(key), leaf)) {
                throw v.invalid(Setting.TLS_KEY, "is not the private key of the certificate in " + cert);
            }
        } catch (java.io.IOException | java.security.GeneralSecurityException e) {
            throw v.invalid(Setting.TLS_KEY, "not a PEM private key: " + oneLine(e.getMessage()));
        }
        if (clientCa != null) {
            try {
                dev.layercache.server.tls.PemFiles.certificates(clientCa);
            } catch (java.io.IOException | java.security.GeneralSecurityException e) {
                throw v.invalid(Setting.GRPC_CLIENT_CA, "not a PEM CA bundle: " + oneLine(e.getMessage()));
            }
        }
        return new ServerConfig.Tls(cert, key, clientCa);
    }

    private static Path existingFile(Values v, Setting s) throws ConfigException {
        String text = v.get(s).trim();
        if (text.isEmpty()) {
            return null;
        }
        Path p = Path.of(text);
        if (!Files.isRegularFile(p) || !Files.isReadable(p)) {
            throw v.invalid(s, "is not a readable file");
        }
        return p;
    }

    /** The cluster settings; all but the bucket are checked only when a bucket is set. */
    private static ServerConfig.Cluster cluster(Values v) throws ConfigException {
        String bucket = v.get(Setting.S3_BUCKET).trim();
        String endpoint = v.get(Setting.S3_ENDPOINT).trim();
        String nodeUrl = v.get(Setting.NODE_URL).trim();
        if (!bucket.isEmpty() && !bucket.matches("[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")) {
            throw v.invalid(Setting.S3_BUCKET, "is not a valid bucket name (3 to 63 of a-z, 0-9, '.' and '-')");
        }
        for (Setting url : new Setting[] {Setting.S3_ENDPOINT, Setting.NODE_URL}) {
            String text = url == Setting.S3_ENDPOINT ? endpoint : nodeUrl;
            if (!text.isEmpty() && !text.matches("https?://[^/?#\\s]+/?")) {
                throw v.invalid(url, "must be http(s)://host:port");
            }
        }
        String prefix = v.get(Setting.S3_PREFIX).trim();
        if (!prefix.isEmpty() && !prefix.matches("[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*")) {
            throw v.invalid(Setting.S3_PREFIX, "must be path components of A-Z, a-z, 0-9, '.', '_' and '-'");
        }
        Duration gcInterval = duration(v, Setting.S3_GC_INTERVAL);
        if (gcInterval.isZero()) {
            throw v.invalid(Setting.S3_GC_INTERVAL, "must be more than 0s");
        }
        return new ServerConfig.Cluster(endpoint.replaceAll("/$", ""), v.get(Setting.S3_REGION).trim(), bucket,
                prefix, bool(v, Setting.S3_PATH_STYLE), nodeUrl.replaceAll("/$", ""), size(v, Setting.S3_MAX_SIZE),
                duration(v, Setting.S3_MAX_AGE), gcInterval);
    }

    private static boolean bool(Values v, Setting s) throws ConfigException {
        return switch (v.get(s).toLowerCase(Locale.ROOT)) {
            case "true", "yes", "on", "1" -> true;
            case "false", "no", "off", "0" -> false;
            default -> throw v.invalid(s, "not true or false");
        };
    }

    private static int port(Values v, Setting s) throws ConfigException {
        return integer(v, s, 0, 65535);
    }

    private static int integer(Values v, Setting s, int min, int max) throws ConfigException {
        String text = v.get(s);
        try {
            int n = Integer.parseInt(text);
            if (n < min || n > max) {
                throw v.invalid(s, "must be between " + min + " and " + max);
            }
            return n;
        } catch (NumberFormatException e) {
            throw v.invalid(s, "not a whole number");
        }
    }

    /** Sizes like {@code 4MiB}, {@code 512KiB}, {@code 1GB} (powers of 1024 either way), or bytes. */
    static long size(Values v, Setting s) throws ConfigException {
        Matcher m = SIZE.matcher(v.get(s));
        if (!m.matches() || m.group(1).length() > 15) {
            throw v.invalid(s, "not a size (examples: 4MiB, 512KiB, 1GiB)");
        }
        long n = Long.parseLong(m.group(1));
        String unit = m.group(2) == null ? "B" : m.group(2).toUpperCase(Locale.ROOT);
        int shift = switch (unit.charAt(0)) {
            case 'K' -> 10;
            case 'M' -> 20;
            case 'G' -> 30;
            case 'T' -> 40;
            default -> 0;
        };
        if (n > (Long.MAX_VALUE >> shift)) {
            throw v.invalid(s, "too large");
        }
        return n << shift;
    }

    /** A size (see {@link #size}) or a percentage of the data directory's file system, {@code 1} to {@code 100%}. */
    static ServerConfig.DiskShare diskShare(Values v, Setting s) throws ConfigException {
        String text = v.get(s).trim();
        if (text.endsWith("%")) {
            String number = text.substring(0, text.length() - 1).trim();
            if (!number.matches("\\d{1,3}") || Integer.parseInt(number) < 1 || Integer.parseInt(number) > 100) {
                throw v.invalid(s, "a percentage must be a whole number from 1% to 100%");
            }
            return ServerConfig.DiskShare.ofPercent(Integer.parseInt(number));
        }
        try {
            return ServerConfig.DiskShare.ofBytes(size(v, s));
        } catch (ConfigException e) {
            throw v.invalid(s, "not a size or a percentage (examples: 50GiB, 512MiB, 60%)");
        }
    }

    /** Durations like {@code 30s}, {@code 5m}, {@code 2h}, {@code 500ms}, or ISO-8601 ({@code PT30S}). */
    static Duration duration(Values v, Setting s) throws ConfigException {
        try {
            return duration(v.get(s));
        } catch (IllegalArgumentException e) {
            throw v.invalid(s, e.getMessage());
        }
    }

    /** {@link #duration(Values, Setting)} of a text; the exception's message says what is wrong. */
    static Duration duration(String text) {
        Matcher m = Pattern.compile("(\\d{1,9})(ms|s|m|h|d)").matcher(text);
        if (m.matches()) {
            long n = Long.parseLong(m.group(1));
            return switch (m.group(2)) {
                case "ms" -> Duration.ofMillis(n);
                case "s" -> Duration.ofSeconds(n);
                case "m" -> Duration.ofMinutes(n);
                case "h" -> Duration.ofHours(n);
                default -> Duration.ofDays(n);
            };
        }
        try {
            Duration d = Duration.parse(text);
            if (d.isNegative()) {
                throw new IllegalArgumentException("must not be negative");
            }
            return d;
        } catch (DateTimeParseException e) {
            throw new IllegalArgumentException("not a duration (examples: 30s, 5m, 2h)");
        }
    }

    /**
     * "config file F, line L, column C: PROBLEM" from the parser's exception, whose own message
     * repeats the source and draws a caret over several lines.
     */
    private static String yamlProblem(Path file, IOException e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof org.yaml.snakeyaml.error.MarkedYAMLException m && m.getProblemMark() != null) {
                return "config file " + file + ", line " + (m.getProblemMark().getLine() + 1) + ", column "
                        + (m.getProblemMark().getColumn() + 1) + ": " + oneLine(m.getProblem())
                        + (m.getContext() != null ? " (" + oneLine(m.getContext()) + ")" : "");
            }
        }
        if (e instanceof com.fasterxml.jackson.core.JsonProcessingException j && j.getLocation() != null) {
            return "config file " + file + ", line " + j.getLocation().getLineNr() + ", column "
                    + j.getLocation().getColumnNr() + ": " + oneLine(j.getOriginalMessage());
        }
        return "config file " + file + " is not valid YAML: " + oneLine(e.getMessage());
    }

    static String oneLine(String s) {
        return s == null ? "" : s.replaceAll("\\s+", " ").trim();
    }
}

package dev.layercache.server.analysis;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.NavigableMap;
import java.util.TreeMap;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveInputStream;
import org.apache.commons.io.input.BoundedInputStream;

/**
 * Replays the layers of one image, lowest first, as an overlay file system would stack them, and
 * reports what each layer added, changed and deleted, the bytes that are stored but can never be
 * seen, secrets and package-manager caches. Feed each layer with {@link #add}, then call
 * {@link #report}.
 *
 * <p>Definitions (also in docs/analysis.md):
 * <ul>
 *   <li><b>file bytes</b>: the sizes of the regular files in the layer tars (headers, padding and
 *       directories not counted); summed over all layers, the <i>total</i>.</li>
 *   <li><b>wasted bytes</b>: file bytes of a layer that a later layer overwrites (re-adds the same
 *       path) or deletes (a {@code .wh.} whiteout, or an opaque directory {@code .wh..wh..opq}
 *       hiding lower entries). They are still stored and pulled, but never visible.</li>
 *   <li><b>useful bytes</b>: file bytes visible in the final file system; useful + wasted = total.</li>
 *   <li><b>efficiency</b>: useful / total (1.0 for an image without file bytes).</li>
 * </ul>
 *
 * <p>Memory: layers are streamed entry by entry and no file content is kept (at most
 * {@link AnalysisRules#PEEK_BYTES} of a small secret candidate is read to confirm it). What grows is the
 * map of visible paths (path, size, layer: about 100 bytes plus the path per file in the final
 * file system); every list in the report is bounded.
 *
 * <p>Not thread-safe: one analyzer per image, used by one thread.
 *
 * <p>Why one file of about 470 lines: the overlay rules (adds, overwrites, whiteouts, opaque
 * directories) and the report read the same private state, the map of visible paths and each
 * layer's tallies, and are easiest to check against each other side by side. The rules of what
 * is a secret or a cache are in {@link AnalysisRules}, decompression in {@link LayerStreams}.
 */
public final class LayerAnalyzer {
    /** Longest list of paths per kind and layer, and of wasted files. */
    public static final int MAX_LISTED = 25;
    /** Most secrets reported; past this, only their count grows. */
    public static final int MAX_SECRETS = 200;

    /** What is known of a layer before it is read. */
    public record LayerInfo(String digest, String mediaType, long compressedSize, String instruction) {
    }

    private static final String OPAQUE = ".wh..wh..opq";
    private static final String WHITEOUT = ".wh.";

    /** A visible path: its size and the layer it comes from. */
    private static final class Node {
        final long size;
        final int layer;

        Node(long size, int layer) {
            this.size = size;
            this.layer = layer;
        }
    }

    private record PathSize(String path, long size) {
    }

    private record Wasted(String path, long size, int layer, int removedIn, String how) {
    }

    private static final class Change {
        long count;
        long bytes;
        final Top<PathSize> top = new Top<>(MAX_LISTED, Comparator.comparingLong(PathSize::size)
                .thenComparing(PathSize::path, Comparator.reverseOrder()));

        void add(String path, long size) {
            count++;
            bytes += size;
            top.offer(new PathSize(path, size));
        }
    }

    private static final class LayerStats {
        final int index;
        final LayerInfo info;
        String compression;
        String skipped;
        long uncompressed;
        long files;
        long fileBytes;
        long wastedBytes;
        final Change added = new Change();
        final Change changed = new Change();
        final Change deleted = new Change();

        LayerStats(int index, LayerInfo info) {
            this.index = index;
            this.info = info;
        }
    }

    private static final class Secret {
        final String path;
        final AnalysisRules.Secret rule;
        final int layer;
        final long size;
        int removedIn = -1;
        String how;

        Secret(String path, AnalysisRules.Secret rule, int layer, long size) {
            this.path = path;
            this.rule = rule;
            this.layer = layer;
            this.size = size;
        }
    }

    private static final class CacheStats {
        final String kind;
        final int layer;
        long files;
        long bytes;
        long removedLater;

        CacheStats(String kind, int layer) {
            this.kind = kind;
            this.layer = layer;
        }
    }

    private final TreeMap<String, Node> visible = new TreeMap<>();
    private final List<LayerStats> layers = new ArrayList<>();
    private final Top<Wasted> wasted = new Top<>(MAX_LISTED, Comparator.comparingLong(Wasted::size)
            .thenComparing(Wasted::path, Comparator.reverseOrder()));
    private final List<Secret> secrets = new ArrayList<>();
    private long secretsSeen;
    /** The latest flagged occurrence of each secret path still visible. */
    private final Map<String, Secret> openSecrets = new HashMap<>();
    private final Map<String, CacheStats> caches = new LinkedHashMap<>();
    private long totalBytes;
    private long wastedBytes;
    private long wastedFiles;
    private final byte[] peek = new byte[AnalysisRules.PEEK_BYTES];

    /** Records a layer that is not a file-system tar (an artifact, a foreign layer) without reading it. */
    public void skip(LayerInfo info, String reason) {
        LayerStats s = new LayerStats(layers.size(), info);
        s.skipped = reason;
        layers.add(s);
    }

    /**
     * Reads one layer to its end (closing nothing: the caller owns {@code blob}).
     *
     * @throws UnreadableLayerException when the bytes are not a gzip, zstd or plain tar stream
     *                                  (corrupt, truncated)
     * @throws IOException              when reading {@code blob} itself fails
     */
    public void add(LayerInfo info, InputStream blob) throws IOException {
        LayerStats stats = new LayerStats(layers.size(), info);
        layers.add(stats);
        LayerStreams.Source source = new LayerStreams.Source(blob);
        try {
            LayerStreams.Opened opened = LayerStreams.open(source);
            stats.compression = opened.compression().wireName();
            BoundedInputStream counted = BoundedInputStream.builder().setInputStream(opened.tar()).get();
            TarArchiveInputStream tar = new TarArchiveInputStream(counted);
            TarArchiveEntry entry;
            while ((entry = tar.getNextEntry()) != null) {
                if (!entry.isCheckSumOK()) {
                    // Commons Compress reads on past a bad checksum; a layer writer never makes one.
                    throw new IOException("header checksum mismatch at entry " + entry.getName());
                }
                entry(stats, entry, tar);
            }
            // The rest of the stream: the tar's end blocks (zeros), and the compressed trailer
            // checked. Anything else there means the walk stopped at a header it could not read.
            long endOfEntries = counted.getCount();
            byte[] rest = new byte[1 << 16];
            for (int n; (n = counted.read(rest)) > 0; ) {
                for (int i = 0; i < n; i++) {
                    if (rest[i] != 0) {
                        throw new IOException("data after the end of the archive at byte " + endOfEntries
                                + " (a corrupt header?)");
                    }
                }
            }
            stats.uncompressed = counted.getCount();
        } catch (IOException | RuntimeException e) {
            if (source.failed != null) {
                throw source.failed;
            }
            throw new UnreadableLayerException(stats.index, info.digest(), e);
        }
    }

    private void entry(LayerStats layer, TarArchiveEntry entry, InputStream tar) throws IOException {
        String path = normalize(entry.getName());
        if (path.isEmpty()) {
            return;
        }
        int slash = path.lastIndexOf('/');
        String base = path.substring(slash + 1);
        String dir = slash < 0 ? "" : path.substring(0, slash + 1);
        if (base.equals(OPAQUE)) {
            opaque(layer, dir);
            return;
        }
        if (base.startsWith(WHITEOUT)) {
            whiteout(layer, dir + base.substring(WHITEOUT.length()));
            return;
        }
        int idx = layer.index;
        if (entry.isDirectory()) {
            // A directory where a lower layer had a file replaces that file.
            Node old = visible.get(path);
            if (old != null && old.layer < idx) {
                visible.remove(path);
                removed(path, old, idx, "overwritten");
                layer.changed.add(path, 0);
            }
            return;
        }
        boolean regular = isRegular(entry);
        long size = regular ? Math.max(0, entry.getSize()) : 0;
        layer.files++;
        layer.fileBytes += size;
        totalBytes += size;
        // A file where a lower layer had a directory hides everything below it.
        removeBelow(path + "/", idx, "overwritten", null);
        Node old = visible.put(path, new Node(size, idx));
        if (old != null) {
            removed(path, old, idx, "overwritten");
            if (old.layer < idx) {
                layer.changed.add(path, size);
            }
        } else {
            layer.added.add(path, size);
        }
        AnalysisRules.Cache cache = AnalysisRules.cacheOf(path);
        if (cache != null) {
            CacheStats c = caches.computeIfAbsent(cache.kind() + "\0" + idx, k -> new CacheStats(cache.kind(), idx));
            c.files++;
            c.bytes += size;
        }
        AnalysisRules.Secret rule = regular ? AnalysisRules.secretCandidate(path) : null;
        if (rule != null && confirmed(rule, size, tar)) {
            secretsSeen++;
            Secret s = new Secret(path, rule, idx, size);
            if (secrets.size() < MAX_SECRETS) {
                secrets.add(s);
            }
            openSecrets.put(path, s);
        }
    }

    private boolean confirmed(AnalysisRules.Secret rule, long size, InputStream tar) throws IOException {
        if (rule.pathOnly()) {
            return true;
        }
        if (size > AnalysisRules.MAX_PEEK_FILE || size == 0) {
            return false;
        }
        int n = tar.readNBytes(peek, 0, (int) Math.min(size, peek.length));
        return rule.confirmedBy(peek, n);
    }

    private void whiteout(LayerStats layer, String target) {
        int idx = layer.index;
        long[] bytes = {0};
        boolean any = false;
        Node n = visible.get(target);
        if (n != null && n.layer < idx) {
            visible.remove(target);
            removed(target, n, idx, "deleted");
            bytes[0] += n.size;
            any = true;
        }
        any |= removeBelow(target + "/", idx, "deleted", bytes);
        if (any) {
            layer.deleted.add(target, bytes[0]);
        }
    }

    private void opaque(LayerStats layer, String dir) {
        int idx = layer.index;
        NavigableMap<String, Node> below = dir.isEmpty() ? visible : visible.subMap(dir, true, dir + '\uffff', false);
        for (Iterator<Map.Entry<String, Node>> it = below.entrySet().iterator(); it.hasNext(); ) {
            Map.Entry<String, Node> e = it.next();
            if (e.getValue().layer < idx) {
                it.remove();
                removed(e.getKey(), e.getValue(), idx, "hidden by opaque directory");
                layer.deleted.add(e.getKey(), e.getValue().size);
            }
        }
    }

    /** Removes lower-layer paths under {@code prefix} (ending in '/'); true when any went. */
    private boolean removeBelow(String prefix, int idx, String how, long[] bytes) {
        NavigableMap<String, Node> below = visible.subMap(prefix, true, prefix + '\uffff', false);
        boolean any = false;
        for (Iterator<Map.Entry<String, Node>> it = below.entrySet().iterator(); it.hasNext(); ) {
            Map.Entry<String, Node> e = it.next();
            if (e.getValue().layer < idx) {
                it.remove();
                removed(e.getKey(), e.getValue(), idx, how);
                if (bytes != null) {
                    bytes[0] += e.getValue().size;
                }
                any = true;
            }
        }
        return any;
    }

    /** {@code node} at {@code path} stops being visible because of layer {@code by}. */
    private void removed(String path, Node node, int by, String how) {
        wastedBytes += node.size;
        wastedFiles++;
        layers.get(node.layer).wastedBytes += node.size;
        wasted.offer(new Wasted(path, node.size, node.layer, by, how));
        Secret s = openSecrets.get(path);
        if (s != null && s.layer == node.layer) {
            openSecrets.remove(path);
            s.removedIn = by;
            s.how = how;
        }
        AnalysisRules.Cache cache = AnalysisRules.cacheOf(path);
        if (cache != null) {
            CacheStats c = caches.get(cache.kind() + "\0" + node.layer);
            if (c != null) {
                c.removedLater += node.size;
            }
        }
    }

    /** The findings as JSON (the {@code /api/v1/analysis} document without its request fields). */
    public ObjectNode report(ObjectMapper json) {
        ObjectNode out = json.createObjectNode();
        long compressed = 0;
        long uncompressed = 0;
        ArrayNode ls = out.putArray("layers");
        for (LayerStats s : layers) {
            compressed += Math.max(0, s.info.compressedSize());
            uncompressed += s.uncompressed;
            ObjectNode l = ls.addObject();
            l.put("index", s.index);
            l.put("digest", s.info.digest());
            l.put("media_type", s.info.mediaType());
            l.put("instruction", s.info.instruction() == null ? "unknown" : s.info.instruction());
            l.put("compressed_size", s.info.compressedSize());
            if (s.skipped != null) {
                l.put("skipped", s.skipped);
                continue;
            }
            l.put("compression", s.compression);
            l.put("uncompressed_size", s.uncompressed);
            l.put("files", s.files);
            l.put("file_bytes", s.fileBytes);
            l.put("wasted_bytes", s.wastedBytes);
            change(l.putObject("added"), s.added);
            change(l.putObject("changed"), s.changed);
            change(l.putObject("deleted"), s.deleted);
        }
        long useful = totalBytes - wastedBytes;
        ObjectNode t = out.putObject("totals");
        t.put("layers", layers.size());
        t.put("compressed_bytes", compressed);
        t.put("uncompressed_bytes", uncompressed);
        t.put("file_bytes", totalBytes);
        t.put("useful_bytes", useful);
        t.put("wasted_bytes", wastedBytes);
        t.put("visible_files", visible.size());
        t.put("efficiency", totalBytes == 0 ? 1.0 : Math.round(useful * 10000.0 / totalBytes) / 10000.0);

        ObjectNode w = out.putObject("wasted");
        w.put("bytes", wastedBytes);
        w.put("files", wastedFiles);
        ArrayNode top = w.putArray("top");
        for (Wasted x : wasted.sorted()) {
            ObjectNode o = top.addObject();
            o.put("path", "/" + x.path());
            o.put("size", x.size());
            o.put("layer", x.layer());
            o.put("layer_instruction", instruction(x.layer()));
            o.put("removed_in_layer", x.removedIn());
            o.put("how", x.how());
        }

        List<Secret> ordered = new ArrayList<>(secrets);
        ordered.sort(Comparator.comparing((Secret s) -> s.removedIn < 0).thenComparingInt(s -> s.layer)
                .thenComparing(s -> s.path));
        ArrayNode sec = out.putArray("secrets");
        for (Secret s : ordered) {
            ObjectNode o = sec.addObject();
            boolean hidden = s.removedIn >= 0;
            o.put("severity", hidden ? "critical" : "high");
            o.put("path", "/" + s.path);
            o.put("rule", s.rule.rule());
            o.put("description", s.rule.description());
            o.put("layer", s.layer);
            o.put("layer_instruction", instruction(s.layer));
            o.put("size", s.size);
            o.put("in_final_filesystem", !hidden);
            if (hidden) {
                o.put("removed_in_layer", s.removedIn);
                o.put("message", s.rule.description() + " " + s.how + " in layer " + s.removedIn
                        + " is still stored in layer " + s.layer + ": anyone who pulls the image can read it");
            } else {
                o.put("message", s.rule.description() + " is in the image (layer " + s.layer + ")");
            }
        }
        out.put("secrets_found", secretsSeen);

        ArrayNode cs = out.putArray("caches");
        for (CacheStats c : caches.values()) {
            ObjectNode o = cs.addObject();
            o.put("kind", c.kind);
            o.put("layer", c.layer);
            o.put("layer_instruction", instruction(c.layer));
            o.put("files", c.files);
            o.put("bytes", c.bytes);
            o.put("removed_later_bytes", c.removedLater);
        }
        return out;
    }

    private String instruction(int layer) {
        String i = layers.get(layer).info.instruction();
        return i == null ? "unknown" : i;
    }

    private static void change(ObjectNode o, Change c) {
        o.put("count", c.count);
        o.put("bytes", c.bytes);
        ArrayNode top = o.putArray("top");
        for (PathSize p : c.top.sorted()) {
            ObjectNode e = top.addObject();
            e.put("path", "/" + p.path());
            e.put("size", p.size());
        }
    }

    /**
     * A regular file (Commons Compress's {@code isFile()} is also true for symbolic links): its
     * bytes are stored in the layer. Links, devices and FIFOs carry none.
     */
    private static boolean isRegular(TarArchiveEntry entry) {
        byte flag = entry.getLinkFlag();
        return flag == TarArchiveEntry.LF_NORMAL || flag == TarArchiveEntry.LF_OLDNORM
                || flag == TarArchiveEntry.LF_CONTIG || flag == TarArchiveEntry.LF_GNUTYPE_SPARSE;
    }

    /** {@code ./a/b/}, {@code /a/b} and {@code a/b} are all {@code a/b}. */
    static String normalize(String name) {
        String p = name;
        while (p.startsWith("./")) {
            p = p.substring(2);
        }
        while (p.startsWith("/")) {
            p = p.substring(1);
        }
        while (p.endsWith("/")) {
            p = p.substring(0, p.length() - 1);
        }
        return p.equals(".") ? "" : p;
    }
}

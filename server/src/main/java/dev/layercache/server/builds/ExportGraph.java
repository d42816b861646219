package dev.layercache.server.builds;

import dev.layercache.server.core.manifest.CacheConfig;
import dev.layercache.server.core.manifest.CacheConfig.CacheInput;
import dev.layercache.server.core.manifest.CacheConfig.CacheRecord;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;
import java.util.Set;

/**
 * One export's records in build order, with each record's identity and shape (see the class
 * comment of {@link ExportComparison}), computed in that order so that a record's inputs are always done before it. For a
 * new export, also whether each record was in the previous one: by identity, or else by a
 * record of the previous export with the same digest that shares, input by input, at least one
 * alternative (selector and linked record) with it, since that is enough for BuildKit to find
 * it. A record found that way takes the identity of the one it matched, so that the records
 * built on it compare as BuildKit would.
 */
final class ExportGraph {
    /** How many records of the previous export with one digest are tried for one record, at most. */
    private static final int MAX_CANDIDATES = 32;

    final CacheConfig config;
    final int[] order;
    final boolean[] contentKey;
    final boolean[] reused;
    final String[] ids;
    final String[] shapes;
    /** For a new export, the record of the previous export each reused record matched; -1 otherwise. */
    final int[] matched;
    private Map<String, List<Integer>> byDigest;

    ExportGraph(CacheConfig config, ExportGraph previous) {
        this.config = config;
        List<CacheRecord> records = config.records();
        int n = records.size();
        contentKey = new boolean[n];
        reused = new boolean[n];
        int[] pending = new int[n];
        List<List<Integer>> users = new ArrayList<>(n);
        for (int r = 0; r < n; r++) {
            users.add(new ArrayList<>(1));
        }
        for (int r = 0; r < n; r++) {
            CacheRecord record = records.get(r);
            contentKey[r] = record.isRoot() && record.results().isEmpty() && record.chains().isEmpty();
            for (List<CacheInput> input : record.inputs()) {
                for (CacheInput link : input) {
                    users.get(link.link()).add(r);
                    pending[r]++;
                }
            }
        }
        // Kahn's algorithm, lowest index first among the ready records, so the order is stable.
        // CacheConfigReader has refused loops, so every record is reached.
        order = new int[n];
        PriorityQueue<Integer> ready = new PriorityQueue<>();
        for (int r = 0; r < n; r++) {
            if (pending[r] == 0) {
                ready.add(r);
            }
        }
        int done = 0;
        while (!ready.isEmpty()) {
            int r = ready.poll();
            order[done++] = r;
            for (int user : users.get(r)) {
                if (--pending[user] == 0) {
                    ready.add(user);
                }
            }
        }
        if (done != n) {
            throw new IllegalArgumentException("cache config records form a loop");
        }
        ids = new String[n];
        shapes = new String[n];
        matched = new int[n];
        Arrays.fill(matched, -1);
        Map<String, Integer> previousIds = new HashMap<>();
        if (previous != null) {
            for (int p = 0; p < previous.ids.length; p++) {
                previousIds.putIfAbsent(previous.ids[p], p);
            }
        }
        MessageDigest sha = sha256();
        for (int r : order) {
            CacheRecord record = records.get(r);
            String id = hash(sha, record, true);
            Integer same = previousIds.get(id);
            if (same != null) {
                reused[r] = true;
                matched[r] = same;
            } else if (previous != null) {
                int match = previous.sharingAlternatives(record, this);
                if (match >= 0) {
                    reused[r] = true;
                    matched[r] = match;
                    id = previous.ids[match];
                }
            }
            ids[r] = id;
            shapes[r] = hash(sha, record, false);
        }
    }

    /** A record of this (previous) export that {@code record} of {@code now} matches through its alternatives, or -1. */
    private int sharingAlternatives(CacheRecord record, ExportGraph now) {
        if (byDigest == null) {
            byDigest = new HashMap<>();
            for (int p = 0; p < ids.length; p++) {
                List<Integer> same = byDigest.computeIfAbsent(config.records().get(p).digest(), d -> new ArrayList<>(1));
                if (same.size() < MAX_CANDIDATES) {
                    same.add(p);
                }
            }
        }
        for (int p : byDigest.getOrDefault(record.digest(), List.of())) {
            List<List<CacheInput>> theirs = config.records().get(p).inputs();
            if (theirs.size() != record.inputs().size()) {
                continue;
            }
            boolean all = true;
            for (int i = 0; i < theirs.size() && all; i++) {
                Set<String> alternatives = new HashSet<>();
                for (CacheInput link : theirs.get(i)) {
                    alternatives.add(alternative(link, ids));
                }
                boolean any = alternatives.isEmpty() && record.inputs().get(i).isEmpty();
                for (CacheInput link : record.inputs().get(i)) {
                    any |= alternatives.contains(alternative(link, now.ids));
                }
                all = any;
            }
            if (all) {
                return p;
            }
        }
        return -1;
    }

    static String alternative(CacheInput link, String[] ids) {
        return (link.selector() == null ? "" : link.selector()) + "\0" + ids[link.link()];
    }

    /**
     * The identity ({@code full}) or shape of a record: its digest and, input by input, the
     * sorted distinct links (with selectors, or for a shape without selectors and content keys).
     */
    private String hash(MessageDigest sha, CacheRecord record, boolean full) {
        sha.reset();
        update(sha, record.digest());
        for (List<CacheInput> input : record.inputs()) {
            List<String> links = new ArrayList<>(input.size());
            for (CacheInput link : input) {
                if (full) {
                    links.add(alternative(link, ids));
                } else if (!contentKey[link.link()]) {
                    links.add(ids[link.link()]);
                }
            }
            Collections.sort(links);
            update(sha, "(");
            String last = null;
            for (String l : links) {
                if (!l.equals(last)) {
                    update(sha, l);
                }
                last = l;
            }
            update(sha, ")");
        }
        return HexFormat.of().formatHex(sha.digest());
    }

    private static void update(MessageDigest sha, String s) {
        sha.update(s.getBytes(StandardCharsets.UTF_8));
        sha.update((byte) 0);
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}

package dev.layercache.server.metadata;

import dev.layercache.server.core.Digest;
import java.util.function.BiPredicate;

/**
 * ANALYSES: the layer analysis of a manifest (JSON), cached per version of the analysis rules.
 * Key {@code v<rules version> \0 manifest digest}: a change of the rules makes every earlier
 * analysis unreachable, and the lifecycle's pruning removes them.
 */
public final class AnalysisIndex {
    private final KeyValueStore kv;

    public AnalysisIndex(KeyValueStore kv) {
        this.kv = kv;
    }

    /** The analysis of {@code manifest} by rules {@code rulesVersion}, or null. */
    public byte[] get(int rulesVersion, Digest manifest) {
        return kv.get(Table.ANALYSES, key(rulesVersion, manifest.toString()));
    }

    public void put(KeyValueStore.Batch batch, int rulesVersion, Digest manifest, byte[] analysis) {
        batch.put(Table.ANALYSES, key(rulesVersion, manifest.toString()), analysis);
    }

    public boolean isEmpty() {
        return !kv.anyWithPrefix(Table.ANALYSES, new byte[0]);
    }

    /**
     * Removes the analyses {@code stale} accepts (given the rules version and the manifest's
     * digest as stored), and every key this version cannot read; returns how many went.
     * Committed in batches, not fsynced (see {@link Deletions}).
     */
    public long removeIf(BiPredicate<Integer, String> stale) {
        Deletions out = new Deletions(kv);
        kv.forEach(Table.ANALYSES, e -> {
            Integer rules = null;
            String[] key = Keys.split(e.key());
            if (key.length == 2 && key[0].matches("v(0|[1-9][0-9]{0,8})")) {
                rules = Integer.parseInt(key[0].substring(1));
            }
            if (rules == null || stale.test(rules, key[1])) {
                out.add(b -> b.delete(Table.ANALYSES, e.key()));
            }
        });
        return out.finish();
    }

    private static byte[] key(int rulesVersion, String manifest) {
        return Keys.of("v" + rulesVersion, manifest);
    }
}

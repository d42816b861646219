package dev.layercache.loadtest;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.layercache.client.CacheKey;
import dev.layercache.client.Digest;
import dev.layercache.loadtest.FleetWorkload.BuildPlan;
import dev.layercache.loadtest.FleetWorkload.PlannedStep;
import java.io.IOException;
import java.io.InputStream;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** What the simulated builds are made of: layer sizes, layer bytes, keys across commits. */
class FleetWorkloadTest {

    @Test
    void theDefaultSizeMixIsMostlySmallWithAFewBigLayersCappedAtTheMaximum() {
        SizeMix mix = SizeMix.parse(SizeMix.DEFAULT).capped(256L << 20);
        assertEquals("80:4k-256k,18:1m-16m,2:100m-256m", mix.toString());
        SplittableRandom random = new SplittableRandom(1);
        int small = 0;
        int big = 0;
        for (int i = 0; i < 20_000; i++) {
            long size = mix.sample(random);
            assertTrue(size >= 4 << 10 && size <= 256L << 20, Long.toString(size));
            small += size <= 256 << 10 ? 1 : 0;
            big += size >= 100L << 20 ? 1 : 0;
        }
        assertEquals(0.80, small / 20_000.0, 0.02);
        assertEquals(0.02, big / 20_000.0, 0.005);
    }

    @Test
    void aRangeWhollyAboveTheCapBecomesTheCap() {
        SizeMix mix = SizeMix.parse("1:1g-2g").capped(8 << 20);
        assertEquals(8 << 20, mix.sample(new SplittableRandom(3)));
    }

    @Test
    void malformedSizeMixesAreRefused() {
        for (String bad : List.of("", "80", "80:4k", "x:1k-2k", "1:2k-1k", "0:1k-2k", "1:0-1k")) {
            assertThrows(IllegalArgumentException.class, () -> SizeMix.parse(bad), bad);
        }
    }

    @Test
    void aLayerStreamsTheSameBytesFromAnyOffsetAndItsDigestIsTheirs() throws IOException {
        long size = 3 * (64 << 10) + 12_345; // blocks and a ragged end
        SyntheticLayer layer = new SyntheticLayer(42, size);
        byte[] whole;
        try (InputStream in = layer.open(0)) {
            whole = in.readAllBytes();
        }
        assertEquals(size, whole.length);
        assertEquals(Digest.sha256(whole), layer.digest());
        for (long offset : new long[] {1, 65_535, 65_536, 150_000, size - 1, size}) {
            try (InputStream in = layer.open(offset)) {
                assertArrayEquals(Arrays.copyOfRange(whole, (int) offset, whole.length), in.readAllBytes());
            }
        }
        assertEquals(layer.digest(), new SyntheticLayer(42, size).digest());
        assertNotEquals(layer.digest(), new SyntheticLayer(43, size).digest());
    }

    @Test
    void aChangedStepChangesItsKeyAndEveryKeyAfterIt() {
        FleetWorkload workload = new FleetWorkload(FleetConfig.builder().projects(2).steps(5).build());
        BuildPlan before = workload.plan(0, false, new SplittableRandom(1));
        assertEquals(keys(before), keys(workload.plan(0, false, new SplittableRandom(2))), "no commit, same keys");
        BuildPlan after = workload.commitChanging(0, List.of(2));
        for (int i = 0; i < 5; i++) {
            assertEquals(i < 2, keys(before).get(i).equals(keys(after).get(i)), "step " + i);
        }
        assertEquals(keys(before).get(1), after.steps().get(2).step().parentKey().orElseThrow());
        // Another project, other keys; the same key, the same layer.
        assertNotEquals(keys(before).get(0), keys(workload.plan(1, false, new SplittableRandom(1))).get(0));
        PlannedStep first = before.steps().get(0);
        assertEquals(first.layer().digest(), workload.layer(first.key()).digest());
    }

    @Test
    void theRampChangesLaterStepsMoreOftenWithTheChangeRateAsItsMean() {
        FleetConfig config = FleetConfig.builder().steps(6).changeRate(0.1).build();
        double sum = 0;
        for (int i = 0; i < 6; i++) {
            sum += config.changeProbability(i);
            assertTrue(i == 0 || config.changeProbability(i) > config.changeProbability(i - 1));
        }
        assertEquals(0.1, sum / 6, 1e-12);
        FleetConfig uniform = FleetConfig.builder().changeRate(0.1).changeProfile(FleetConfig.ChangeProfile.UNIFORM)
                .build();
        assertEquals(0.1, uniform.changeProbability(0));
        assertEquals(0.1, uniform.changeProbability(5));
    }

    private static List<CacheKey> keys(BuildPlan plan) {
        return plan.steps().stream().map(PlannedStep::key).toList();
    }
}

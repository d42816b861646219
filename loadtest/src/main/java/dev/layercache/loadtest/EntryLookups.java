package dev.layercache.loadtest;

import dev.layercache.api.v1.EntryCacheGrpc;
import dev.layercache.api.v1.GetEntryRequest;
import dev.layercache.api.v1.GetEntryResponse;
import io.grpc.stub.StreamObserver;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.HdrHistogram.ConcurrentHistogram;
import org.HdrHistogram.Histogram;

/** GetEntry lookups kept {@code concurrency} in flight for a while, timed one by one: the benchmarks' lookup loop. */
final class EntryLookups {
    /** What a run came to: lookups answered and failed, each answer's latency in microseconds, and the run's length. */
    record Result(long done, long failed, Histogram micros, double seconds) {
        double perSecond() {
            return done / seconds;
        }
    }

    private EntryLookups() {
    }

    /** Looks up {@code keys} in turn in {@code namespace} for {@code seconds}, {@code concurrency} at a time. */
    static Result run(EntryCacheGrpc.EntryCacheStub async, String namespace, String[] keys, int concurrency,
                      double seconds) throws InterruptedException {
        Histogram micros = new ConcurrentHistogram(3);
        Semaphore inFlight = new Semaphore(concurrency);
        AtomicLong done = new AtomicLong();
        AtomicLong failed = new AtomicLong();
        long start = System.nanoTime();
        long end = start + (long) (seconds * TimeUnit.SECONDS.toNanos(1));
        int i = 0;
        while (System.nanoTime() < end) {
            inFlight.acquire();
            long t0 = System.nanoTime();
            async.getEntry(GetEntryRequest.newBuilder().setNamespace(namespace).setKey(keys[i++ % keys.length]).build(),
                    new StreamObserver<>() {
                        @Override
                        public void onNext(GetEntryResponse value) {
                        }

                        @Override
                        public void onError(Throwable t) {
                            failed.incrementAndGet();
                            inFlight.release();
                        }

                        @Override
                        public void onCompleted() {
                            micros.recordValue(Math.max(1, (System.nanoTime() - t0) / 1000));
                            done.incrementAndGet();
                            inFlight.release();
                        }
                    });
        }
        inFlight.acquire(concurrency); // every lookup answered
        inFlight.release(concurrency);
        return new Result(done.get(), failed.get(), micros, (System.nanoTime() - start) / 1e9);
    }
}

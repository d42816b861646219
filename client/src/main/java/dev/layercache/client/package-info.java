/**
 * The Java client of layercache's gRPC cache API.
 *
 * <ul>
 *   <li>{@link dev.layercache.client.LayerCacheClient}: entries by key (with explained misses),
 *       blobs in and out (resumable, verified, constant memory, in parallel), OCI manifests.</li>
 *   <li>{@link dev.layercache.client.CacheKey}, {@link dev.layercache.client.Step},
 *       {@link dev.layercache.client.StepInput}: the documented key computation every builder
 *       shares.</li>
 *   <li>{@link dev.layercache.client.BuildCache}: the builder loop (look up, fetch or run and
 *       publish) in a few lines.</li>
 * </ul>
 *
 * <p>Nullness: no method of this package accepts or returns {@code null}; absent values are
 * {@link java.util.Optional}, and null arguments throw {@link NullPointerException} naming the
 * parameter. The library never logs: it reports retries and transfer progress to a
 * {@link dev.layercache.client.ClientListener}.
 */
package dev.layercache.client;

package dev.layercache.server.grpc;

import dev.layercache.server.entries.EntryService;
import dev.layercache.server.metrics.CacheMetrics;
import dev.layercache.server.registry.BlobService;
import dev.layercache.server.registry.ManifestService;
import dev.layercache.server.registry.UploadService;
import io.grpc.BindableService;
import java.util.List;

/** The layercache.v1 services over the node's stores. */
public final class GrpcServices {
    private GrpcServices() {
    }

    public static List<BindableService> create(EntryService entries, BlobService blobs, UploadService uploads,
                                               ManifestService manifests, int maxManifestBytes,
                                               CacheMetrics metrics) {
        GrpcMetrics recorder = new GrpcMetrics(metrics);
        return List.of(new EntryCacheGrpcService(entries, recorder),
                new BlobsGrpcService(blobs, uploads, metrics, recorder).binding(),
                new ManifestsGrpcService(manifests, maxManifestBytes));
    }
}

package dev.layercache.server.grpc;

import com.google.protobuf.UnsafeByteOperations;
import dev.layercache.api.v1.GetManifestRequest;
import dev.layercache.api.v1.GetManifestResponse;
import dev.layercache.api.v1.ManifestsGrpc;
import dev.layercache.api.v1.PutManifestRequest;
import dev.layercache.api.v1.PutManifestResponse;
import dev.layercache.server.core.ErrorCode;
import dev.layercache.server.core.Reference;
import dev.layercache.server.core.RegistryException;
import dev.layercache.server.core.RepositoryName;
import dev.layercache.server.metadata.ManifestIndex.StoredManifest;
import dev.layercache.server.registry.ManifestService;
import io.grpc.stub.StreamObserver;

/** {@code layercache.v1.Manifests}: the OCI manifests of a namespace, with the OCI API's rules. */
final class ManifestsGrpcService extends ManifestsGrpc.ManifestsImplBase {
    private final ManifestService manifests;
    private final int maxManifestBytes;

    ManifestsGrpcService(ManifestService manifests, int maxManifestBytes) {
        this.manifests = manifests;
        this.maxManifestBytes = maxManifestBytes;
    }

    @Override
    public void putManifest(PutManifestRequest request, StreamObserver<PutManifestResponse> observer) {
        Calls.unary(observer, () -> {
            RepositoryName ns = Args.namespace(request.getNamespace());
            Reference ref = FieldException.parse("reference", () -> Reference.parse(request.getReference()));
            Args.check(request.getContent().size() <= maxManifestBytes, "content",
                    "larger than the manifest limit of " + maxManifestBytes + " bytes");
            ManifestService.PutResult result;
            try {
                result = manifests.put(ns, ref, request.getMediaType(), request.getContent().toByteArray());
            } catch (RegistryException e) {
                if (e.code() == ErrorCode.MANIFEST_BLOB_UNKNOWN) {
                    throw e; // a precondition (PreconditionFailure listing the blobs), not a bad field
                }
                throw new FieldException("content", "content: " + e.getMessage());
            }
            return PutManifestResponse.newBuilder().setDigest(result.digest().toString()).build();
        });
    }

    @Override
    public void getManifest(GetManifestRequest request, StreamObserver<GetManifestResponse> observer) {
        Calls.unary(observer, () -> {
            RepositoryName ns = Args.namespace(request.getNamespace());
            Reference ref = FieldException.parse("reference", () -> Reference.parse(request.getReference()));
            StoredManifest m = manifests.get(ns, ref);
            return GetManifestResponse.newBuilder().setDigest(m.digest().toString()).setMediaType(m.mediaType())
                    .setContent(UnsafeByteOperations.unsafeWrap(m.content())).build();
        });
    }
}

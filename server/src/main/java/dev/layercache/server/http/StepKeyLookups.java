package dev.layercache.server.http;

import dev.layercache.server.builds.BuildInsight;
import io.netty.handler.codec.http.HttpMethod;

/**
 * Tells the build insight of every manifest lookup by tag that was answered (200) or not (404),
 * with who asked: buildah asks one tag per build step, named by the step's cache key
 * ({@code builds.BuildahBuilds} groups them into builds and ignores other tags). Cheap enough for
 * the event loop: a check of the tag's shape and, for a step key, a few map operations.
 */
final class StepKeyLookups implements RequestListener {
    private final BuildInsight builds;

    StepKeyLookups(BuildInsight builds) {
        this.builds = builds;
    }

    @Override
    public void onComplete(Request request, int status, long bytesReceived, long bytesSent, long declaredLength,
                           long nanos) {
        Route route = request.route();
        if (route.resource() != Route.Resource.MANIFEST || (status != 200 && status != 404)) {
            return;
        }
        HttpMethod method = request.method();
        if (method.equals(HttpMethod.GET) || method.equals(HttpMethod.HEAD)) {
            builds.looked(route.name(), request.client(), route.param(), status == 200);
        }
    }
}

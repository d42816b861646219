package dev.layercache.server.http;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.layercache.server.analysis.AnalysisService;
import dev.layercache.server.auth.AccessControl;
import dev.layercache.server.auth.Action;
import dev.layercache.server.core.Reference;
import io.netty.handler.codec.http.HttpResponseStatus;

/**
 * {@code GET /api/v1/analysis/<repository>/<reference>[?platform=os/arch]}: the layer analysis of a
 * manifest (read access to the repository, checked before this runs). {@code GET /api/v1/sharing}:
 * layer sharing over the repositories the caller may read. Both run on the blocking pool, like
 * every plain endpoint.
 */
final class AnalysisHandler {
    private final AnalysisService analysis;
    private final ObjectMapper json;
    private final AccessControl access;

    AnalysisHandler(AnalysisService analysis, ObjectMapper json, AccessControl access) {
        this.analysis = analysis;
        this.json = json;
        this.access = access;
    }

    Response analysis(Request request) {
        var repo = request.repository();
        Reference reference = Reference.parse(request.route().param());
        return Response.json(HttpResponseStatus.OK, json, analysis.analyze(repo, reference, request.param("platform")),
                "application/json");
    }

    Response sharing(Request request) {
        return Response.json(HttpResponseStatus.OK, json,
                analysis.sharing(repo -> access.allows(request.identity(), Action.READ, repo)), "application/json");
    }
}

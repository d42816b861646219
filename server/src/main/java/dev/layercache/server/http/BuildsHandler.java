package dev.layercache.server.http;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.layercache.server.auth.AccessControl;
import dev.layercache.server.auth.Action;
import dev.layercache.server.builds.BuildInsight;
import dev.layercache.server.builds.BuildRecord;
import dev.layercache.server.core.ErrorCode;
import dev.layercache.server.core.RegistryException;
import dev.layercache.server.core.RepositoryName;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpResponseStatus;

/**
 * {@code GET /api/v1/builds?repository=<name>[&limit=N]}: the recent builds of stock builders in
 * one repository, newest first (docs/builds.md). Needs {@code read} on the repository, checked
 * here since the repository is in the query, not the path.
 */
final class BuildsHandler {
    static final int DEFAULT_LIMIT = 20;

    private final BuildInsight builds;
    private final ObjectMapper json;
    private final AccessControl access;

    BuildsHandler(BuildInsight builds, ObjectMapper json, AccessControl access) {
        this.builds = builds;
        this.json = json;
        this.access = access;
    }

    Response list(Request request) {
        String name = request.param("repository");
        if (name == null || name.isEmpty()) {
            throw new RegistryException(ErrorCode.NAME_INVALID,
                    "give the repository whose builds to list: /api/v1/builds?repository=<name>");
        }
        RepositoryName repo = RepositoryName.parse(name);
        access.check(request.identity(), Action.READ, repo.toString());
        int limit = DEFAULT_LIMIT;
        String asked = request.param("limit");
        if (asked != null) {
            try {
                limit = Integer.parseInt(asked);
            } catch (NumberFormatException e) {
                limit = -1;
            }
            if (limit < 1 || limit > BuildInsight.MAX_LISTED) {
                throw new RegistryException(ErrorCode.PAGINATION_NUMBER_INVALID,
                        "limit must be a number from 1 to " + BuildInsight.MAX_LISTED + ", not " + asked);
            }
        }
        ObjectNode body = json.createObjectNode();
        body.put("repository", repo.toString());
        ArrayNode list = body.putArray("builds");
        for (BuildRecord r : builds.builds(repo, limit)) {
            list.add(r.toJson(json));
        }
        return Response.json(HttpResponseStatus.OK, json, body, "application/json")
                .header(HttpHeaderNames.CACHE_CONTROL, "no-store");
    }
}

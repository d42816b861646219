package dev.layercache.server.http;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.layercache.server.core.Digest;
import dev.layercache.server.core.ErrorCode;
import dev.layercache.server.core.MediaTypes;
import dev.layercache.server.core.RegistryException;
import dev.layercache.server.core.RepositoryName;
import dev.layercache.server.core.manifest.Descriptor;
import dev.layercache.server.registry.AnswerCache;
import dev.layercache.server.registry.ManifestService;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.QueryStringEncoder;
import java.util.List;

/**
 * The listing endpoints: {@code /v2/<name>/tags/list} and {@code /v2/_catalog} (paginated with
 * {@code n} and {@code last}, the next page named in a {@code Link} header), and
 * {@code /v2/<name>/referrers/<digest>}.
 */
final class ListingHandler {
    /** The page size when the client names none, and the largest page served. */
    static final int MAX_PAGE = 10_000;

    private final ManifestService manifests;
    private final ObjectMapper json;

    private final dev.layercache.server.auth.AccessControl access;
    /** Filled with each tags page served (see {@link FastPath}); null: none. */
    private final AnswerCache answers;

    /** A rendered page: its JSON, and the {@code Link} to the next page (null: the last page). */
    record Page(byte[] json, String link) {
    }

    ListingHandler(ManifestService manifests, ObjectMapper json, dev.layercache.server.auth.AccessControl access,
                   AnswerCache answers) {
        this.access = access;
        this.answers = answers;
        this.manifests = manifests;
        this.json = json;
    }

    Response tags(Request request) {
        RepositoryName repo = request.repository();
        long stamp = answers == null ? 0 : answers.repositoryStamp(repo.toString()); // before the store is read
        int n = pageSize(request);
        String last = request.param("last");
        // Even n=0 asks about a repository: an unknown one is NAME_UNKNOWN, not an empty page.
        List<String> page = manifests.tags(repo, last, n + 1);
        ObjectNode body = json.createObjectNode();
        body.put("name", repo.toString());
        Page rendered = paginated(body, "tags", page, n, "/v2/" + repo + "/tags/list");
        if (answers != null) {
            answers.put(new AnswerCache.TagsKey(repo.toString(), request.param("n"), last), rendered, stamp,
                    rendered.json().length);
        }
        return answer(rendered);
    }

    /** The answer with a rendered page: the same whether the page was rendered now or kept in memory. */
    static Response answer(Page page) {
        Response r = Response.bytes(HttpResponseStatus.OK, page.json(), "application/json");
        if (page.link() != null) {
            r.header(Headers.LINK, page.link());
        }
        return r;
    }

    Response catalog(Request request) {
        int n = pageSize(request);
        String last = request.param("last");
        List<String> page = n == 0 ? List.of() : readable(request, last, n + 1);
        return answer(paginated(json.createObjectNode(), "repositories", page, n, "/v2/_catalog"));
    }

    Response referrers(Request request) {
        RepositoryName repo = request.repository();
        Digest subject = Digest.parse(request.route().param());
        String artifactType = request.param("artifactType");
        ObjectNode index = json.createObjectNode();
        index.put("schemaVersion", 2);
        index.put("mediaType", MediaTypes.OCI_INDEX);
        ArrayNode list = index.putArray("manifests");
        for (Descriptor d : manifests.referrers(repo, subject, artifactType)) {
            ObjectNode entry = list.addObject();
            entry.put("mediaType", d.mediaType());
            entry.put("digest", d.digest().toString());
            entry.put("size", d.size());
            if (d.artifactType() != null) {
                entry.put("artifactType", d.artifactType());
            }
            if (!d.annotations().isEmpty()) {
                ObjectNode annotations = entry.putObject("annotations");
                d.annotations().forEach(annotations::put);
            }
        }
        Response r = Response.json(HttpResponseStatus.OK, json, index, MediaTypes.OCI_INDEX);
        if (artifactType != null) {
            r.header(Headers.OCI_FILTERS_APPLIED, "artifactType");
        }
        return r;
    }

    /** Up to {@code want} repositories after {@code last} that the caller may read, in order. */
    private List<String> readable(Request request, String last, int want) {
        List<String> out = new java.util.ArrayList<>();
        String after = last;
        while (out.size() < want) {
            List<String> batch = manifests.repositories(after, Math.max(want, 100));
            for (String repo : batch) {
                if (access.allows(request.identity(), dev.layercache.server.auth.Action.READ, repo)) {
                    out.add(repo);
                    if (out.size() == want) {
                        break;
                    }
                }
            }
            if (batch.size() < Math.max(want, 100)) {
                break;
            }
            after = batch.get(batch.size() - 1);
        }
        return out;
    }

    private Page paginated(ObjectNode body, String field, List<String> fetched, int n, String path) {
        List<String> page = fetched.size() > n ? fetched.subList(0, n) : fetched;
        boolean more = n > 0 && fetched.size() > n;
        ArrayNode items = body.putArray(field);
        page.forEach(items::add);
        String link = null;
        if (more) {
            QueryStringEncoder next = new QueryStringEncoder(path);
            next.addParam("n", Integer.toString(n));
            next.addParam("last", page.get(page.size() - 1));
            link = "<" + next + ">; rel=\"next\"";
        }
        try {
            return new Page(json.writeValueAsBytes(body), link);
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    private static int pageSize(Request request) {
        String n = request.param("n");
        if (n == null || n.isEmpty()) {
            return MAX_PAGE;
        }
        if (n.length() > 9 || !n.chars().allMatch(Character::isDigit)) {
            throw new RegistryException(ErrorCode.PAGINATION_NUMBER_INVALID, "n must be a non-negative number: " + n);
        }
        return Math.min(Integer.parseInt(n), MAX_PAGE);
    }
}

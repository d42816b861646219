package dev.layercache.server.cluster;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.layercache.server.core.RepositoryName;
import dev.layercache.server.metadata.UploadIndex.UploadRecord;
import dev.layercache.server.registry.UploadDirectory;
import dev.layercache.server.storage.ObjectStore;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The cluster's directory of upload sessions: {@code uploads/<id>} in the bucket names the node
 * holding a session ({@code {"node": URL, "repository": NAME}}). A node asked about a session it
 * does not hold fetches its bytes from that node ({@code GET <node>/internal/v1/uploads/<id>},
 * which hands the session over) and becomes its holder.
 *
 * <p>Why hand sessions over rather than forward each request: the bytes move once, on the rare
 * request that lands elsewhere, and the common clients (one {@code PATCH} with the whole blob,
 * then an empty {@code PUT}) move none. A session whose node died is gone with it, as an
 * upload to a single registry that dies is; clients start such an upload again.
 */
public final class ClusterUploads implements UploadDirectory {
    private static final Logger log = LoggerFactory.getLogger(ClusterUploads.class);

    /** Response headers of the hand-over: the session's record. */
    public static final String REPOSITORY = "Layercache-Upload-Repository";
    public static final String OFFSET = "Layercache-Upload-Offset";
    public static final String STARTED_AT = "Layercache-Upload-Started-At";
    public static final String OWNER = "Layercache-Upload-Owner";

    private final ObjectStore bucket;
    private volatile String nodeUrl = "";
    private final ObjectMapper json;
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(3)).build();

    private final String nodeToken;

    public ClusterUploads(ObjectStore bucket, ObjectMapper json, String nodeToken) {
        this.bucket = bucket;
        this.json = json;
        this.nodeToken = nodeToken;
    }

    /** Where other nodes reach this one; set once the HTTP port is bound. */
    void listeningAt(String url) {
        this.nodeUrl = url;
    }

    static String object(String id) {
        return "uploads/" + id;
    }

    @Override
    public void announce(String id, RepositoryName repository) throws IOException {
        byte[] record = json.writeValueAsBytes(json.createObjectNode()
                .put("node", nodeUrl).put("repository", repository.toString()));
        bucket.put(object(id), record);
    }

    @Override
    public void forget(String id) {
        try {
            bucket.delete(object(id));
        } catch (IOException e) {
            // Harmless: a record naming a node that no longer holds the session leads nowhere.
            log.warn("cannot remove the directory record of upload {}: {}", id, e.toString());
        }
    }

    @Override
    public UploadRecord takeOver(String id, Path target) throws IOException {
        byte[] record = bucket.get(object(id));
        if (record == null) {
            return null;
        }
        JsonNode node = json.readTree(record);
        String holder = node.path("node").asText("");
        if (holder.isEmpty() || holder.equals(nodeUrl)) {
            return null; // ours, and we no longer have it (a restart lost it)
        }
        HttpRequest.Builder builder = HttpRequest.newBuilder(URI.create(holder + "/internal/v1/uploads/" + id))
                .timeout(Duration.ofSeconds(30)).GET();
        if (!nodeToken.isEmpty()) {
            builder.header("Authorization", "Bearer " + nodeToken); // the hand-over needs admin
        }
        HttpRequest request = builder.build();
        Path part = target.resolveSibling(target.getFileName() + ".takeover");
        try {
            HttpResponse<Path> response = http.send(request, HttpResponse.BodyHandlers.ofFile(part));
            if (response.statusCode() != 200) {
                Files.deleteIfExists(part);
                return null;
            }
            long offset = Long.parseLong(response.headers().firstValue(OFFSET).orElse("-1"));
            if (offset < 0 || Files.size(part) != offset) {
                Files.deleteIfExists(part);
                log.warn("upload {}: the hand-over from {} was cut short", id, holder);
                return null;
            }
            Files.move(part, target);
            return new UploadRecord(id, RepositoryName.parse(response.headers().firstValue(REPOSITORY).orElseThrow()),
                    Long.parseLong(response.headers().firstValue(STARTED_AT).orElse("0")), offset,
                    response.headers().firstValue(OWNER).orElse("anonymous"));
        } catch (IOException e) {
            Files.deleteIfExists(part);
            log.info("upload {}: its node {} cannot be reached ({}); the client must start again", id, holder,
                    e.toString());
            return null;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            Files.deleteIfExists(part);
            return null;
        }
    }
}

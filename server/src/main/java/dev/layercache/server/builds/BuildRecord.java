package dev.layercache.server.builds;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Objects;

/**
 * What one build of a stock builder reused and rebuilt, and why: the record {@code GET
 * /api/v1/builds} lists and {@code layercache builds} prints. Its JSON field names are a contract
 * (docs/builds.md): {@code builder}, {@code repository}, {@code reference}, {@code at},
 * {@code steps}, {@code reused}, {@code rebuilt}, {@code root_cause} ({@code instruction},
 * {@code reason}, ...), and more besides.
 *
 * @param builder    {@code buildkit} or {@code buildah}
 * @param repository the repository the cache was pushed to or asked of
 * @param reference  the tag (or digest) the BuildKit cache was pushed under; for buildah, the
 *                   step key of the build's last step
 * @param at         when the server saw the build end (the push, or the build's last request)
 * @param who        the identity name, or the client's address for an anonymous client
 * @param manifest   the digest of the pushed manifest, or null (buildah)
 * @param shape      {@code index}, {@code image_manifest} or {@code inline} for BuildKit; null for buildah
 * @param status     what could be said of the build
 * @param steps      how many steps the build had (content keys left out), as far as the server saw
 * @param reused     the steps that came from the cache
 * @param rebuilt    the steps that did not
 * @param rootCauses the rebuilt steps that no other rebuilt step led to, in build order; the first
 *                   is {@code root_cause}
 * @param warnings   what is wrong with the cache as pushed (hygiene), in words
 * @param stepList   the steps, in build order, at most {@link #MAX_STEPS_LISTED}
 * @param truncated  true when the build had more steps than are listed
 */
public record BuildRecord(String builder, String repository, String reference, Instant at, String who,
                          String manifest, String shape, Status status, int steps, int reused, int rebuilt,
                          List<RootCause> rootCauses, List<Warning> warnings, List<StepLine> stepList,
                          boolean truncated) {
    /** Steps listed in a record at most; the counts cover every step. */
    public static final int MAX_STEPS_LISTED = 200;
    /** Characters of an instruction kept at most (a RUN can be a page long). */
    public static final int MAX_INSTRUCTION_CHARS = 300;

    public BuildRecord {
        Objects.requireNonNull(builder, "builder");
        Objects.requireNonNull(repository, "repository");
        Objects.requireNonNull(at, "at");
        Objects.requireNonNull(status, "status");
        rootCauses = List.copyOf(rootCauses);
        warnings = List.copyOf(warnings);
        stepList = List.copyOf(stepList);
    }

    /** What could be said of a build. */
    public enum Status {
        /** A BuildKit export compared with the previous export of its reference. */
        COMPARED,
        /** A BuildKit export with no previous export of its reference: every step counts as rebuilt. */
        FIRST_EXPORT,
        /** A BuildKit export whose cache could not be read: no steps counted, see the warnings. */
        UNPARSABLE,
        /** A buildah build: its per-step lookups and pushes, grouped. */
        GROUPED;

        public String label() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    /**
     * A step that rebuilt though nothing it is built on did.
     *
     * @param instruction the step's instruction, or a name of it ({@code record N}, {@code step KEY})
     * @param reason      {@code content} (what it reads changed), {@code instruction} (the step
     *                    itself changed), or {@code first_rebuilt} (buildah: the first step that
     *                    missed; the server cannot tell why)
     * @param cascade     how many later steps rebuilt only because of it
     * @param key         its cache key
     */
    public record RootCause(String instruction, String reason, int cascade, String key) {
    }

    /** A hygiene problem of a pushed cache; {@code kind} is the metric's label. */
    public record Warning(String kind, String message) {
        public static final String CONFIG_TOO_LARGE = "cache_config_too_large";
        public static final String LAYERS_NOT_IN_REPOSITORY = "layers_not_in_repository";
        public static final String TWO_COMPRESSIONS = "diff_id_two_compressions";
        public static final String UNPARSABLE = "unparsable";
    }

    /** One step: its name, whether it was reused, and why not. */
    public record StepLine(String name, String outcome, String cause) {
    }

    /** The root cause the contract's {@code root_cause} names: the first, or null when nothing rebuilt for a reason. */
    public RootCause rootCause() {
        return rootCauses.isEmpty() ? null : rootCauses.get(0);
    }

    /** Cuts an instruction to {@link #MAX_INSTRUCTION_CHARS}; null stays null. */
    static String clip(String instruction) {
        if (instruction == null || instruction.length() <= MAX_INSTRUCTION_CHARS) {
            return instruction;
        }
        return instruction.substring(0, MAX_INSTRUCTION_CHARS - 1) + "…";
    }

    /** The record as the API serves it. */
    public ObjectNode toJson(ObjectMapper json) {
        ObjectNode o = json.createObjectNode();
        o.put("builder", builder);
        o.put("repository", repository);
        o.put("reference", reference);
        o.put("at", at.toString());
        o.put("steps", steps);
        o.put("reused", reused);
        o.put("rebuilt", rebuilt);
        RootCause first = rootCause();
        if (first == null) {
            o.putNull("root_cause");
        } else {
            o.set("root_cause", rootCauseJson(json, first));
        }
        o.put("status", status.label());
        o.put("shape", shape);
        o.put("who", who);
        o.put("manifest", manifest);
        ArrayNode roots = o.putArray("root_causes");
        for (RootCause r : rootCauses) {
            roots.add(rootCauseJson(json, r));
        }
        ArrayNode w = o.putArray("warnings");
        ArrayNode kinds = o.putArray("warning_kinds");
        for (Warning warning : warnings) {
            w.add(warning.message());
            kinds.add(warning.kind());
        }
        ArrayNode list = o.putArray("step_list");
        for (StepLine s : stepList) {
            list.addObject().put("name", s.name()).put("outcome", s.outcome()).put("cause", s.cause());
        }
        o.put("truncated", truncated);
        return o;
    }

    private static ObjectNode rootCauseJson(ObjectMapper json, RootCause r) {
        return json.createObjectNode().put("instruction", r.instruction()).put("reason", r.reason())
                .put("cascade", r.cascade()).put("key", r.key());
    }

    /** A record read back from its JSON ({@link #toJson}); fields this version does not know are ignored. */
    public static BuildRecord fromJson(JsonNode o) {
        List<RootCause> roots = new ArrayList<>();
        for (JsonNode r : o.path("root_causes")) {
            roots.add(new RootCause(text(r, "instruction"), text(r, "reason"), r.path("cascade").asInt(0),
                    text(r, "key")));
        }
        List<Warning> warnings = new ArrayList<>();
        JsonNode kinds = o.path("warning_kinds");
        int i = 0;
        for (JsonNode w : o.path("warnings")) {
            warnings.add(new Warning(kinds.path(i++).asText("unknown"), w.asText()));
        }
        List<StepLine> steps = new ArrayList<>();
        for (JsonNode s : o.path("step_list")) {
            steps.add(new StepLine(text(s, "name"), text(s, "outcome"), text(s, "cause")));
        }
        Status status;
        try {
            status = Status.valueOf(o.path("status").asText("").toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            status = Status.UNPARSABLE;
        }
        return new BuildRecord(o.path("builder").asText("unknown"), o.path("repository").asText(""),
                text(o, "reference"), Instant.parse(o.path("at").asText(Instant.EPOCH.toString())), text(o, "who"),
                text(o, "manifest"), text(o, "shape"), status, o.path("steps").asInt(0), o.path("reused").asInt(0),
                o.path("rebuilt").asInt(0), roots, warnings, steps, o.path("truncated").asBoolean(false));
    }

    private static String text(JsonNode o, String field) {
        JsonNode v = o.get(field);
        return v == null || v.isNull() ? null : v.asText();
    }
}

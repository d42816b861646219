package dev.layercache.client.cli;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.PrintWriter;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.time.format.DateTimeParseException;
import java.time.temporal.ChronoUnit;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * {@code layercache builds REPO}: the builds that stock builders (BuildKit's cache exports,
 * buildah's per-step cache tags) made against a repository, newest first, with how many steps each
 * reused and rebuilt and the step that broke the chain. It prints {@code GET /api/v1/builds}.
 */
@Command(name = "builds", mixinStandardHelpOptions = true,
        header = "Lists the recent BuildKit and buildah builds of a repository: steps reused, rebuilt, and the root cause.",
        description = {
            "One block per build, newest first. BuildKit: each cache export (registry cache or inline cache)",
            "compared with the previous export of the same reference; the root cause is the first rebuilt step",
            "whose inputs were all reused, and the steps rebuilt only because of it are counted after it.",
            "buildah: its per-step cache lookups grouped into builds; the root cause is the first step rebuilt.",
            "Warnings are the cache hygiene problems found when the cache was pushed."})
final class BuildsCommand implements Callable<Integer> {
    private static final DateTimeFormatter AT = DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss'Z'")
            .withZone(ZoneOffset.UTC);

    /** Instructions can be long heredocs; the root-cause line stays readable, --json has it whole. */
    private static final int MAX_INSTRUCTION = 120;

    @Spec
    CommandSpec spec;

    @Parameters(index = "0", paramLabel = "REPO", description = "The repository whose builds to list, such as team/app.")
    String repository;

    @Option(names = "--limit", paramLabel = "N", description = "At most N builds (default: as many as the server keeps).")
    Integer limit;

    @Option(names = "--json", description = "Print the server's JSON as it is.")
    boolean json;

    @Override
    public Integer call() {
        if (repository.isBlank()) {
            throw new CliException(ExitCodes.INVALID, "a repository is required, such as team/app");
        }
        if (limit != null && limit < 1) {
            throw new CliException(ExitCodes.INVALID, "--limit must be at least 1, not " + limit);
        }
        JsonNode answer = admin().get("/api/v1/builds?repository=" + URLEncoder.encode(repository, StandardCharsets.UTF_8)
                + (limit == null ? "" : "&limit=" + limit));
        PrintWriter out = spec.commandLine().getOut();
        if (json) {
            out.println(AdminHttp.json(answer));
        } else {
            print(out, answer);
        }
        out.flush();
        return ExitCodes.OK;
    }

    private void print(PrintWriter out, JsonNode answer) {
        JsonNode builds = answer.path("builds");
        if (builds.isEmpty()) {
            out.printf("no builds recorded for %s%n", answer.path("repository").asText(repository));
            return;
        }
        // Pad the image column to the widest so that the step counts line up.
        int width = 0;
        for (JsonNode b : builds) {
            width = Math.max(width, image(b).length());
        }
        boolean first = true;
        for (JsonNode b : builds) {
            if (!first) {
                out.println();
            }
            first = false;
            printBuild(out, b, width);
        }
    }

    private static void printBuild(PrintWriter out, JsonNode b, int width) {
        String status = b.path("status").asText();
        int steps = b.path("steps").asInt();
        String counts = switch (status) {
            case "unparsable" -> "unparsable: the cache config could not be read";
            case "first_export" -> plural(steps, "step");
            default -> plural(steps, "step") + ": " + b.path("reused").asInt() + " reused, "
                    + b.path("rebuilt").asInt() + " rebuilt";
        };
        out.printf("%s  %-8s  %-" + width + "s  %s%n", at(b.path("at").asText()), b.path("builder").asText(),
                image(b), counts);
        JsonNode cause = b.path("root_cause");
        if (status.equals("first_export")) {
            out.println("  first export: nothing to compare with");
        } else if (cause.isObject()) {
            int cascade = cause.path("cascade").asInt();
            out.printf("  root cause: %s (%s)%s%n", instruction(cause), reason(cause.path("reason").asText()),
                    cascade > 0 ? ", " + cascade + " more rebuilt because of it" : "");
        } else if (!status.equals("unparsable") && !status.equals("compared") && !status.equals("grouped")) {
            out.printf("  status: %s%n", status); // a status newer than this client: say it rather than hide it
        }
        for (JsonNode w : b.path("warnings")) {
            out.printf("  warning: %s%n", w.asText());
        }
    }

    /** {@code repo:tag}, or {@code repo@digest} when the reference is a digest. */
    private static String image(JsonNode b) {
        String repo = b.path("repository").asText();
        String ref = b.path("reference").asText("");
        return ref.isEmpty() ? repo : repo + (ref.contains(":") ? "@" : ":") + ref;
    }

    private static String at(String iso) {
        try {
            return AT.format(Instant.parse(iso).truncatedTo(ChronoUnit.SECONDS));
        } catch (DateTimeParseException e) {
            return iso;
        }
    }

    private static String instruction(JsonNode cause) {
        String text = cause.path("instruction").asText("").replaceAll("\\s*\\n\\s*", " ").strip();
        if (text.isEmpty()) {
            return "step " + cause.path("key").asText("(unnamed)");
        }
        return text.length() <= MAX_INSTRUCTION ? text : text.substring(0, MAX_INSTRUCTION - 1) + "…";
    }

    private static String reason(String reason) {
        return switch (reason) {
            case "content" -> "content changed";
            case "instruction" -> "instruction changed";
            case "first_rebuilt" -> "first step rebuilt";
            default -> reason;
        };
    }

    private static String plural(int n, String noun) {
        return n + " " + noun + (n == 1 ? "" : "s");
    }

    private AdminHttp admin() {
        return GlobalOptions.of(spec).admin(spec);
    }
}

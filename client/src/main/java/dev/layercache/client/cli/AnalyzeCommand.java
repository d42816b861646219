package dev.layercache.client.cli;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.PrintWriter;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code layercache analyze REPO:REF}: where an image's bytes go, and what it should not carry. */
@Command(name = "analyze", mixinStandardHelpOptions = true,
        header = "Analyses an image or cache manifest stored on the server, layer by layer.",
        description = {
            "Per layer: sizes, file count, the instruction that made it, files added, changed and deleted.",
            "Then secrets left in layers (loudest when a later layer deleted them: the bytes are still there),",
            "wasted bytes (files a later layer overwrites or deletes), package-manager caches, and the",
            "efficiency score (bytes visible in the final file system over all file bytes).",
            "An image index is analysed per platform (--platform picks one)."})
final class AnalyzeCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Parameters(index = "0", paramLabel = "REPO[:TAG|@DIGEST]", description = "The manifest to analyse (tag latest by default).")
    String image;

    @Option(names = "--platform", paramLabel = "OS/ARCH[/VARIANT]", description = "Of an image index, analyse only this platform.")
    String platform;

    @Option(names = "--json", description = "Print the server's JSON as it is.")
    boolean json;

    @Option(names = "--fail-on-secrets", description = "Exit with code 6 when a secret is found.")
    boolean failOnSecrets;

    @Override
    public Integer call() {
        ImageRef ref = ImageRef.parse(image);
        String path = "/api/v1/analysis/" + ref.namespace() + "/" + ref.reference()
                + (platform == null ? "" : "?platform=" + URLEncoder.encode(platform, StandardCharsets.UTF_8));
        JsonNode report = admin().get(path);
        PrintWriter out = spec.commandLine().getOut();
        long secrets = 0;
        if (json) {
            out.println(AdminHttp.json(report));
        }
        if (report.has("manifests")) {
            for (JsonNode m : report.path("manifests")) {
                if (!json) {
                    out.printf("== platform %s (%s)%n", m.path("platform").asText(), m.path("manifest_digest").asText());
                    print(out, m);
                }
                secrets += m.path("secrets").size();
            }
        } else {
            if (!json) {
                out.printf("== %s (%s, %s)%n", ref, report.path("kind").asText(), report.path("manifest_digest").asText());
                print(out, report);
            }
            secrets += report.path("secrets").size();
        }
        out.flush();
        return failOnSecrets && secrets > 0 ? ExitCodes.FINDINGS : ExitCodes.OK;
    }

    private static void print(PrintWriter out, JsonNode a) {
        JsonNode secrets = a.path("secrets");
        if (!secrets.isEmpty()) {
            out.printf("%n!! SECRETS (%d)%n", secrets.size());
            for (JsonNode s : secrets) {
                out.printf("!! %-8s %s  [%s] layer %d%s%n", s.path("severity").asText().toUpperCase(Locale.ROOT),
                        s.path("path").asText(), s.path("rule").asText(), s.path("layer").asInt(),
                        s.has("removed_in_layer") ? ", deleted in layer " + s.path("removed_in_layer").asInt()
                                + " but STILL STORED in layer " + s.path("layer").asInt() : ", in the final image");
            }
        }
        out.printf("%n%-3s %-12s %10s %10s %7s %6s %6s %6s %10s  %s%n", "#", "digest", "compressed", "unpacked",
                "files", "added", "chg", "del", "wasted", "instruction");
        for (JsonNode l : a.path("layers")) {
            String digest = l.path("digest").asText();
            String shortDigest = digest.substring(digest.indexOf(':') + 1, Math.min(digest.length(), digest.indexOf(':') + 13));
            if (l.has("skipped")) {
                out.printf("%-3d %-12s %10s  skipped: %s%n", l.path("index").asInt(), shortDigest,
                        AdminHttp.bytes(l.path("compressed_size").asLong()), l.path("skipped").asText());
                continue;
            }
            out.printf("%-3d %-12s %10s %10s %7d %6d %6d %6d %10s  %s%n", l.path("index").asInt(), shortDigest,
                    AdminHttp.bytes(l.path("compressed_size").asLong()), AdminHttp.bytes(l.path("uncompressed_size").asLong()),
                    l.path("files").asLong(), l.path("added").path("count").asLong(),
                    l.path("changed").path("count").asLong(), l.path("deleted").path("count").asLong(),
                    AdminHttp.bytes(l.path("wasted_bytes").asLong()), clip(l.path("instruction").asText(), 60));
        }
        JsonNode top = a.path("wasted").path("top");
        if (!top.isEmpty()) {
            out.printf("%nWasted: %s in %d files; biggest:%n", AdminHttp.bytes(a.path("wasted").path("bytes").asLong()),
                    a.path("wasted").path("files").asLong());
            int n = 0;
            for (JsonNode w : top) {
                if (n++ == 10) {
                    break;
                }
                out.printf("  %10s  %s  (layer %d, %s in layer %d)%n", AdminHttp.bytes(w.path("size").asLong()),
                        w.path("path").asText(), w.path("layer").asInt(), w.path("how").asText(),
                        w.path("removed_in_layer").asInt());
            }
        }
        JsonNode caches = a.path("caches");
        if (!caches.isEmpty()) {
            out.printf("%nPackage-manager caches left in layers:%n");
            for (JsonNode c : caches) {
                out.printf("  %10s  %-13s layer %d (%d files)%s%n", AdminHttp.bytes(c.path("bytes").asLong()),
                        c.path("kind").asText(), c.path("layer").asInt(), c.path("files").asLong(),
                        c.path("removed_later_bytes").asLong() > 0 ? ", deleted later: still stored" : "");
            }
        }
        JsonNode t = a.path("totals");
        out.printf("%nEfficiency: %.1f%%  (useful %s of %s file bytes; wasted %s; %d layers, %s compressed)%s%n",
                t.path("efficiency").asDouble() * 100, AdminHttp.bytes(t.path("useful_bytes").asLong()),
                AdminHttp.bytes(t.path("file_bytes").asLong()), AdminHttp.bytes(t.path("wasted_bytes").asLong()),
                t.path("layers").asInt(), AdminHttp.bytes(t.path("compressed_bytes").asLong()),
                a.path("cached").asBoolean() ? "  [cached]" : "");
    }

    private static String clip(String s, int max) {
        String oneLine = s.replace('\n', ' ');
        return oneLine.length() <= max ? oneLine : oneLine.substring(0, max - 1) + "…";
    }

    private AdminHttp admin() {
        return GlobalOptions.of(spec).admin(spec);
    }
}

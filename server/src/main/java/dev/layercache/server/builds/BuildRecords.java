package dev.layercache.server.builds;

import dev.layercache.server.builds.BuildRecord.RootCause;
import dev.layercache.server.builds.BuildRecord.Status;
import dev.layercache.server.builds.BuildRecord.StepLine;
import dev.layercache.server.builds.BuildRecord.Warning;
import dev.layercache.server.builds.ExportComparison.Cause;
import dev.layercache.server.builds.ExportComparison.Kind;
import dev.layercache.server.builds.ExportComparison.Outcome;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/** Build records made from what the builds package works out: a comparison of exports, a buildah build. */
final class BuildRecords {
    /** The builder a BuildKit export names. */
    static final String BUILDKIT = "buildkit";
    /** Root causes listed in a record at most (the first is {@code root_cause}). */
    static final int MAX_ROOT_CAUSES = 20;

    private BuildRecords() {
    }

    /** A BuildKit export compared with the previous one (or a first export). */
    static BuildRecord of(ExportComparison c, String repository, String reference, Instant at, String who,
                          String manifest, String shape, List<Warning> warnings) {
        List<RootCause> roots = new ArrayList<>();
        for (ExportComparison.Step s : c.rootCauses()) {
            if (roots.size() == MAX_ROOT_CAUSES) {
                break;
            }
            roots.add(new RootCause(BuildRecord.clip(s.name()), s.reason().name().toLowerCase(Locale.ROOT),
                    c.cascadeOf(s), s.cacheKey()));
        }
        List<StepLine> lines = new ArrayList<>();
        boolean truncated = false;
        for (ExportComparison.Step s : c.steps()) {
            if (s.kind() != Kind.STEP) {
                continue;
            }
            if (lines.size() == BuildRecord.MAX_STEPS_LISTED) {
                truncated = true;
                break;
            }
            lines.add(new StepLine(BuildRecord.clip(s.name()), s.outcome() == Outcome.REUSED ? "reused" : "rebuilt",
                    cause(s.cause())));
        }
        return new BuildRecord(BUILDKIT, repository, reference, at, who, manifest, shape,
                c.firstExport() ? Status.FIRST_EXPORT : Status.COMPARED, c.stepCount(), c.reused(), c.rebuilt(),
                roots, warnings, lines, truncated);
    }

    /** A BuildKit export whose cache could not be read. */
    static BuildRecord unparsable(String repository, String reference, Instant at, String who, String manifest,
                                  String shape, List<Warning> warnings) {
        return new BuildRecord(BUILDKIT, repository, reference, at, who, manifest, shape, Status.UNPARSABLE, 0, 0, 0,
                List.of(), warnings, List.of(), false);
    }

    /** A buildah build: its first rebuilt step is its root cause, the steps rebuilt after it its cascade. */
    static BuildRecord of(BuildahBuilds.Build b) {
        List<StepLine> lines = new ArrayList<>();
        boolean afterRoot = false;
        for (BuildahBuilds.Step s : b.steps()) {
            boolean rebuilt = s.outcome() == Outcome.REBUILT;
            String cause = !rebuilt ? "none" : afterRoot ? "cascade" : "root_cause";
            afterRoot |= rebuilt;
            lines.add(new StepLine(BuildRecord.clip(s.name()), rebuilt ? "rebuilt" : "reused", cause));
        }
        List<RootCause> roots = b.rootCause() == null ? List.of()
                : List.of(new RootCause(BuildRecord.clip(b.rootCause().name()), "first_rebuilt",
                        Math.max(0, b.rebuilt() - 1), b.rootCause().key()));
        String reference = b.steps().isEmpty() ? null : b.steps().get(b.steps().size() - 1).key();
        return new BuildRecord(BuildahBuilds.BUILDER, b.repository(), reference, b.end(), b.who(), null, null,
                Status.GROUPED, b.stepCount(), b.reused(), b.rebuilt(), roots, List.of(), lines, b.truncated());
    }

    private static String cause(Cause cause) {
        return cause.name().toLowerCase(Locale.ROOT);
    }
}

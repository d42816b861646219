package dev.layercache.client.cli;

import dev.layercache.client.LayerCacheException;
import io.grpc.Status;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.file.NoSuchFileException;
import java.util.List;
import java.util.logging.Level;
import java.util.logging.Logger;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * The {@code layercache} command-line tool: {@code java -jar layercache.jar <command>}.
 * Exit codes are {@link ExitCodes}.
 */
@Command(name = "layercache",
        mixinStandardHelpOptions = true,
        versionProvider = Main.Version.class,
        description = {"Client of a layercache node, which has two ports:",
            "  gRPC, --target HOST:PORT (9092 by default): key, lookup, put-entry, stat,",
            "    explain, push-layout and pull-layout;",
            "  HTTP, --http URL (5000 by default): store, gc, purge, analyze, sharing and",
            "    builds.",
            "Give the options once, before or after the command name, or in the environment:",
            "  layercache --target cache:9092 --http http://cache:5000 <command> ...", ""},
        subcommands = {
            KeyCommand.class,
            LookupCommand.class,
            PutEntryCommand.class,
            StatCommand.class,
            ExplainCommand.class,
            PushLayoutCommand.class,
            PullLayoutCommand.class,
            StoreCommand.class,
            GcCommand.class,
            PurgeCommand.class,
            AnalyzeCommand.class,
            SharingCommand.class,
            BuildsCommand.class,
            CommandLine.HelpCommand.class
        },
        exitCodeListHeading = "%nExit codes:%n",
        exitCodeList = {
            "0:success (every lookup hit)",
            "1:not found: a cache miss, an unknown blob, manifest or tag",
            "2:invalid input or usage (bad arguments, digest, key or namespace; blobs missing)",
            "3:server unreachable (connection refused, TLS mismatch, deadline exceeded)",
            "4:other server error (refused, failed, or content that did not verify)",
            "5:local I/O error (reading or writing files)",
            "6:analyze --fail-on-secrets: the image carries secrets"
        },
        footerHeading = "%nEnvironment:%n",
        footer = {
            "  LAYERCACHE_TARGET       default for --target (gRPC), else 127.0.0.1:9092",
            "  LAYERCACHE_HTTP         default for --http (HTTP), else http://127.0.0.1:5000",
            "  LAYERCACHE_NAMESPACE    default for --namespace",
            "  LAYERCACHE_TOKEN        default for --token (safer than --token)",
            "  LAYERCACHE_TLS          default for --tls (true or false)",
            "  LAYERCACHE_CA_FILE      default for --ca-file",
            "  LAYERCACHE_CLIENT_CERT  default for --client-cert",
            "  LAYERCACHE_CLIENT_KEY   default for --client-key",
            "  LAYERCACHE_RETRIES      default for --retries"
        })
public final class Main implements Runnable {

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    /** The connection options, inherited by every command (so accepted before or after its name). */
    @CommandLine.Mixin
    GlobalOptions global;

    /** Runs the tool and exits with its exit code. */
    public static void main(String[] args) {
        // gRPC and Netty report through java.util.logging; the tool reports in its own one-line errors.
        QUIET.forEach(l -> l.setLevel(Level.OFF));
        System.exit(run(args));
    }

    /** Held so that the levels set on them are not garbage-collected with them. */
    private static final List<Logger> QUIET = List.of(Logger.getLogger("io.grpc"), Logger.getLogger("io.netty"));

    /** Runs the tool with {@code args} and returns its exit code (for tests and embedding). */
    public static int run(String... args) {
        return run(new PrintWriter(System.out, true), new PrintWriter(System.err, true), args);
    }

    /** Runs the tool with the given output streams. */
    public static int run(PrintWriter out, PrintWriter err, String... args) {
        CommandLine cl = commandLine(out, err);
        return cl.execute(args);
    }

    static CommandLine commandLine(PrintWriter out, PrintWriter err) {
        CommandLine cl = new CommandLine(new Main());
        cl.setOut(out);
        cl.setErr(err);
        cl.setExecutionExceptionHandler((e, commandLine, parseResult) -> {
            int code = exitCode(e);
            String message = message(e);
            if (message.contains("TLS handshake failed")) {
                message += " (the server may not use TLS: drop --tls and --ca-file)";
            } else if (e instanceof LayerCacheException && WrongPort.looksLikeHttp1Peer(message)) {
                message += WrongPort.HTTP_PORT_HINT;
            }
            commandLine.getErr().println("layercache: " + message);
            commandLine.getErr().flush();
            return code;
        });
        cl.setParameterExceptionHandler((e, args) -> {
            CommandLine c = e.getCommandLine();
            c.getErr().println("layercache: " + e.getMessage());
            c.getErr().println("Try '" + c.getCommandSpec().qualifiedName() + " --help' for more.");
            c.getErr().flush();
            return ExitCodes.INVALID;
        });
        return cl;
    }

    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getErr());
        throw new CommandLine.ParameterException(spec.commandLine(), "a command is required");
    }

    static int exitCode(Throwable e) {
        if (e instanceof LayerCacheException lce) {
            return exitCode(lce.code());
        }
        if (e instanceof CliException ce) {
            return ce.exitCode();
        }
        if (e instanceof IllegalArgumentException) {
            return ExitCodes.INVALID;
        }
        if (e instanceof IOException || e instanceof UncheckedIOException) {
            return ExitCodes.IO;
        }
        return ExitCodes.SERVER;
    }

    static int exitCode(Status.Code code) {
        return switch (code) {
            case NOT_FOUND -> ExitCodes.NOT_FOUND;
            case INVALID_ARGUMENT, FAILED_PRECONDITION, OUT_OF_RANGE -> ExitCodes.INVALID;
            case UNAVAILABLE, DEADLINE_EXCEEDED -> ExitCodes.UNREACHABLE;
            default -> ExitCodes.SERVER;
        };
    }

    static String message(Throwable e) {
        if (e instanceof NoSuchFileException n) {
            return "no such file: " + n.getFile();
        }
        if (e instanceof UncheckedIOException u) {
            return message(u.getCause());
        }
        if (e instanceof IOException && e.getMessage() != null) {
            return e.getMessage();
        }
        String m = e.getMessage();
        return m == null ? e.toString() : m.replace('\n', ' ');
    }

    /** The version from the jar's manifest. */
    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            String v = Main.class.getPackage().getImplementationVersion();
            return new String[] {"layercache client " + (v == null ? "(development build)" : v)};
        }
    }
}

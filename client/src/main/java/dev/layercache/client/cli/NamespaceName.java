package dev.layercache.client.cli;

import java.util.regex.Pattern;

/**
 * Checks a namespace (an OCI repository name) where it enters the tool, so that a wrong one gets
 * one line naming the rule it breaks rather than the server's bare "invalid repository name".
 */
final class NamespaceName {
    /** One path component of the OCI distribution spec's repository name grammar. */
    private static final Pattern COMPONENT = Pattern.compile("[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*");

    static final String RULE = "an OCI repository name: path components of lowercase letters and digits,"
            + " separated inside by '.', '_', '__' or '-', joined by '/', such as team/app";

    private NamespaceName() {
    }

    /** {@code name}, or a {@link CliException} (exit 2) saying which rule it breaks. */
    static String check(String name) {
        String why = problem(name);
        if (why != null) {
            throw new CliException(ExitCodes.INVALID, "invalid namespace \"" + name + "\": " + why + " (want " + RULE
                    + ")");
        }
        return name;
    }

    private static String problem(String name) {
        if (name.isEmpty()) {
            return "it is empty";
        }
        if (name.length() > 255) {
            return "it is longer than 255 characters";
        }
        for (int i = 0; i < name.length(); i++) {
            char c = name.charAt(i);
            if (c >= 'A' && c <= 'Z') {
                return "uppercase letters are not allowed ('" + c + "'); use " + name.toLowerCase(java.util.Locale.ROOT);
            }
            if (!(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-' || c == '/')) {
                return "the character '" + c + "' is not allowed";
            }
        }
        for (String component : name.split("/", -1)) {
            if (component.isEmpty()) {
                return "it has an empty path component (a leading, trailing or double '/')";
            }
            if (!COMPONENT.matcher(component).matches()) {
                return "the component \"" + component + "\" must start and end with a letter or digit, with"
                        + " single '.', '_' or '__', or dashes, between them";
            }
        }
        return null;
    }
}

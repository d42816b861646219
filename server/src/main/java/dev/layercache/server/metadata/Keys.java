package dev.layercache.server.metadata;

import java.nio.charset.StandardCharsets;

/** Key encoding shared by the indexes: UTF-8 parts joined by a NUL byte, which no part contains. */
public final class Keys {
    private Keys() {
    }

    public static byte[] of(String... parts) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < parts.length; i++) {
            if (i > 0) {
                sb.append('\0');
            }
            sb.append(parts[i]);
        }
        return sb.toString().getBytes(StandardCharsets.UTF_8);
    }

    /** The prefix matching every key whose leading parts are {@code parts}. */
    public static byte[] prefix(String... parts) {
        return (String.join("\0", parts) + "\0").getBytes(StandardCharsets.UTF_8);
    }

    /** The last NUL-separated part of a key. */
    public static String lastPart(byte[] key) {
        String s = new String(key, StandardCharsets.UTF_8);
        return s.substring(s.lastIndexOf('\0') + 1);
    }

    /** A key's first part and the rest ({@code repository \0 name}); one part when it has no NUL. */
    public static String[] split(byte[] key) {
        return string(key).split("\0", 2);
    }

    public static String string(byte[] bytes) {
        return new String(bytes, StandardCharsets.UTF_8);
    }

    public static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }
}

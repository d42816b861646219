package dev.layercache.server.cluster;

import dev.layercache.server.metadata.Table;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

/**
 * Where a metadata record lives in the bucket: {@code meta/<table>/<key>}, the key written so
 * that object keys sort exactly as the records do in RocksDB, which keeps prefix scans (the tags
 * of a repository, the catalog) a single {@code LIST}.
 *
 * <p>Keys are NUL-separated UTF-8 parts (repository names, tags, digests, upload ids). The NUL
 * becomes {@code !}, which sorts below every character those parts use; {@code /} stays (so the
 * bucket reads like the registry: {@code meta/tags/team/app!latest}) except where it would make an
 * empty path segment; anything else outside {@code [A-Za-z0-9._:-]} becomes {@code %XX}.
 */
public final class MetaKeys {
    private MetaKeys() {
    }

    /** The object key of {@code key} in {@code table} (also of a key prefix, for listing). */
    public static String object(Table table, byte[] key) {
        StringBuilder sb = new StringBuilder("meta/").append(table.columnFamily()).append('/');
        for (int i = 0; i < key.length; i++) {
            int b = key[i] & 0xff;
            boolean slashAllowed = i > 0 && key[i - 1] != '/' && key[i - 1] != 0 && i < key.length - 1;
            if (b == 0) {
                sb.append('!');
            } else if (b == '/' ? slashAllowed : isPlain(b)) {
                sb.append((char) b);
            } else {
                sb.append('%').append(Character.toUpperCase(Character.forDigit(b >> 4, 16)))
                        .append(Character.toUpperCase(Character.forDigit(b & 0xf, 16)));
            }
        }
        return sb.toString();
    }

    /** The record key of {@code object}, a key of {@code table} made by {@link #object}. */
    public static byte[] key(Table table, String object) {
        String head = "meta/" + table.columnFamily() + "/";
        if (!object.startsWith(head)) {
            throw new IllegalArgumentException(object + " is not a record of " + table);
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (int i = head.length(); i < object.length(); i++) {
            char c = object.charAt(i);
            if (c == '!') {
                out.write(0);
            } else if (c == '%' && i + 2 < object.length()) {
                out.write(Integer.parseInt(object.substring(i + 1, i + 3), 16));
                i += 2;
            } else {
                out.write(c);
            }
        }
        return out.toByteArray();
    }

    private static boolean isPlain(int b) {
        return (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || (b >= '0' && b <= '9')
                || b == '.' || b == '_' || b == '-' || b == ':';
    }

    static String utf8(byte[] key) {
        return new String(key, StandardCharsets.UTF_8);
    }
}

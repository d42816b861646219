package dev.layercache.loadtest;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Bucket requests by kind, read from Prometheus text: the nodes' own count of what they asked
 * ({@code layercache_bucket_requests_total} by {@code operation}, summed over nodes) and the S3
 * server's count of what it answered (s3proxy's {@code http_server_request_duration_seconds_count}
 * by {@code s3_operation}). A benchmark reads both before and after a phase and keeps the
 * difference: two independent counts of the same traffic.
 */
final class BucketCounts {
    static final String NODE_METRIC = "layercache_bucket_requests_total";
    static final String NODE_LABEL = "operation";
    static final String S3_METRIC = "http_server_request_duration_seconds_count";
    static final String S3_LABEL = "s3_operation";

    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();

    private BucketCounts() {
    }

    /** The sum over {@code metricsUrls} of {@code metric}'s samples, by the value of {@code label}. */
    static Map<String, Double> read(List<URI> metricsUrls, String metric, String label) throws IOException {
        Map<String, Double> sum = new TreeMap<>();
        for (URI url : metricsUrls) {
            byLabel(fetch(url), metric, label).forEach((k, v) -> sum.merge(k, v, Double::sum));
        }
        return sum;
    }

    /** The samples of {@code metric} in {@code exposition}, summed by the value of {@code label} (other labels merged). */
    static Map<String, Double> byLabel(String exposition, String metric, String label) {
        Pattern labelValue = Pattern.compile("[{,]\\s*" + Pattern.quote(label) + "=\"([^\"]*)\"");
        Map<String, Double> out = new TreeMap<>();
        for (String line : exposition.split("\n")) {
            if (!line.startsWith(metric + "{")) {
                continue; // also skips comments and metrics whose name only starts the same
            }
            int end = line.lastIndexOf('}');
            Matcher m = labelValue.matcher(line.substring(metric.length(), Math.max(metric.length(), end + 1)));
            if (end < 0 || !m.find()) {
                continue;
            }
            try {
                out.merge(m.group(1), Double.parseDouble(line.substring(end + 1).trim().split("\\s+")[0]), Double::sum);
            } catch (NumberFormatException e) {
                // not a sample line of ours
            }
        }
        return out;
    }

    /** {@code after - before} per kind, kinds that did not move left out; the total under {@code "total"}. */
    static Map<String, Double> delta(Map<String, Double> before, Map<String, Double> after) {
        Map<String, Double> d = new TreeMap<>();
        double total = 0;
        for (Map.Entry<String, Double> e : after.entrySet()) {
            double v = e.getValue() - before.getOrDefault(e.getKey(), 0.0);
            if (v != 0) {
                d.put(e.getKey(), v);
                total += v;
            }
        }
        d.put("total", total);
        return d;
    }

    static String fetch(URI url) throws IOException {
        try {
            HttpResponse<String> r = HTTP.send(HttpRequest.newBuilder(url).timeout(Duration.ofSeconds(30)).build(),
                    HttpResponse.BodyHandlers.ofString());
            if (r.statusCode() != 200) {
                throw new IOException("GET " + url + " answered " + r.statusCode());
            }
            return r.body();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted reading " + url, e);
        }
    }
}

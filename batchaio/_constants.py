"""Every tuning constant of the transport layer, in one place.

Change a number here and the whole client follows; nothing else in the package spells these values out.
"""

from __future__ import annotations

from typing import Final

# --- Client timeouts (seconds); the service's own processing limit is 30 s ----------------------------------
DEFAULT_CONNECT_TIMEOUT: Final = 10.0
DEFAULT_READ_TIMEOUT: Final = 60.0
DEFAULT_WRITE_TIMEOUT: Final = 60.0
DEFAULT_POOL_TIMEOUT: Final = 30.0

# --- Connection pool ---------------------------------------------------------------------------------------
DEFAULT_MAX_CONNECTIONS: Final = 100
DEFAULT_MAX_KEEPALIVE_CONNECTIONS: Final = 100
DEFAULT_KEEPALIVE_EXPIRY: Final = 30.0

# --- Retries -----------------------------------------------------------------------------------------------
DEFAULT_MAX_ATTEMPTS: Final = 5
DEFAULT_BACKOFF_BASE: Final = 0.8
DEFAULT_BACKOFF_CAP: Final = 30.0
DEFAULT_RETRY_AFTER_CAP: Final = 60.0
DEFAULT_DEADLINE: Final = 180.0
# Statuses worth another attempt (subject to the operation's idempotency class).
RETRYABLE_STATUSES: Final = frozenset({408, 429, 500, 502, 503, 504})
# Statuses that say "not processed, come back later": the request was provably not applied.
THROTTLING_STATUSES: Final = frozenset({429, 503})

# --- Request building ---------------------------------------------------------------------------------------
# Parsed request URLs (and their Shared Key resources) kept per client: a bulk run posts to one URL thousands
# of times, and a parse costs ~10 us.
PARSED_URL_CACHE_SIZE: Final = 256

# --- Server-side timeout (query ``timeout``) ---------------------------------------------------------------
SERVER_TIMEOUT_MIN: Final = 1
SERVER_TIMEOUT_MAX: Final = 30

# --- Microsoft Entra tokens --------------------------------------------------------------------------------
DEFAULT_TOKEN_SCOPE: Final = "https://batch.core.windows.net//.default"
TOKEN_REFRESH_MARGIN: Final = 300.0
TOKEN_REFRESH_JITTER: Final = 60.0

# --- Wire --------------------------------------------------------------------------------------------------
JSON_CONTENT_TYPE: Final = "application/json; odata=minimalmetadata"
ACCEPT: Final = "application/json"
# Sent explicitly rather than left to the HTTP library (httpx would add br/zstd when their packages happen to
# be installed); both transports decode exactly these.
ACCEPT_ENCODING: Final = "gzip, deflate"
# Largest decoded body read whole (JSON answers and error bodies), so that a small gzip body cannot inflate
# to gigabytes in memory. Generous: the largest real Batch answers (a 1000-task page) are a few MB.
DEFAULT_MAX_RESPONSE_BYTES: Final = 256 * 1024 * 1024
# Query parameters whose values may appear in logs and error messages; every other value is redacted.
LOGGABLE_QUERY_PARAMETERS: Final = frozenset({"api-version", "timeout", "maxresults"})
REDACTED: Final = "REDACTED"
LOGGER_NAME: Final = "batchaio"
# Loggers of the HTTP stack below batchaio that get the redacting filter (httpx logs full URLs at INFO,
# httpcore and aiohttp header lists at DEBUG). Filters apply to the logger named, not its children.
HTTP_STACK_LOGGERS: Final = (
    "httpx",
    "httpcore",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "httpcore.socks",
    "aiohttp",
    "aiohttp.client",
    "aiohttp.internal",
)
# Loggers silenced outright: hpack logs HTTP/2 header blocks, Authorization included, encoded or decoded.
# (h2 logs through a logger only when given one; batchaio never gives it one.)
SILENCED_LOGGERS: Final = ("hpack", "hpack.hpack", "hpack.table")

# --- Transport internals -----------------------------------------------------------------------------------
# Bytes asked of aiohttp per read of a response body (optional AiohttpTransport).
AIOHTTP_READ_CHUNK: Final = 65_536
# Up to this fraction of a server-given Retry-After is added at random, so throttled callers spread out.
RETRY_AFTER_JITTER: Final = 0.1
# A token whose refresh failed is still used while it has at least this many seconds left.
TOKEN_MIN_REMAINING_AFTER_FAILED_REFRESH: Final = 30.0

# --- Autoscale: the service wants 30 s between autoscale calls to one pool ---------------------------------
AUTOSCALE_MIN_INTERVAL: Final = 30.0
AUTOSCALE_OPERATIONS: Final = frozenset({"Pools_EnablePoolAutoScale", "Pools_EvaluatePoolAutoScale"})

# --- Operations layer (resources, paging, downloads) -------------------------------------------------------
# maxresults accepted by list operations: certificates allow 100 per page, every other listing 1000.
MAX_RESULTS_LIMIT: Final = 1000
CERTIFICATE_MAX_RESULTS_LIMIT: Final = 100
# Tasks in one addtaskcollection request.
MAX_TASKS_PER_COLLECTION: Final = 100
# Times one download may be resumed with a byte range after its connection dropped mid-body.
DOWNLOAD_RESUME_ATTEMPTS: Final = 3

# --- Bulk task submission (addtaskcollection) ---------------------------------------------------------------
# The same service limit as MAX_TASKS_PER_COLLECTION, under the name the bulk engine uses.
BULK_MAX_TASKS_PER_CHUNK: Final = MAX_TASKS_PER_COLLECTION
# The service refuses bodies over 1,048,576 bytes (413); chunks are measured on the encoded bytes and kept
# under this, leaving room for anything a proxy or the service might count differently.
BULK_MAX_CHUNK_BYTES: Final = 1_000_000
BULK_DEFAULT_CONCURRENCY: Final = 8
# Least number of requests that may carry one task before it is given up (throttling, 5xx, resets and
# per-task servererror), unless the retry policy makes no retries or the caller says otherwise. Waits follow
# the retry policy.
BULK_MAX_ATTEMPTS: Final = 10
# Floor under the jittered backoff so that a retry is never immediate.
BULK_MIN_RETRY_DELAY: Final = 0.05
# Seconds a stopping bulk run (the input raised, the job was refused, the service is unreachable) gives the
# requests already in flight to finish, so that their tasks get an outcome instead of being left in doubt.
BULK_STOP_GRACE: Final = 10.0

# --- Identifiers and wire formats (operations and serde layer) ----------------------------------------------
# IDs the client creates (pools, jobs, job schedules, tasks): 1 to this many letters, digits, '-' and '_'.
ENTITY_ID_MAX_LENGTH: Final = 64
# IDs of existing entities in request paths may be longer: a job made by a schedule is
# "{scheduleId}:job-{n}". Anything past this is surely not an ID the service made.
PATH_ID_MAX_LENGTH: Final = 1024
# Parsed ISO 8601 durations kept for reuse (constraints repeat the same few values).
MAX_CACHED_DURATIONS: Final = 512
# Unknown enum values remembered per open enum, so a misbehaving server cannot grow memory without bound.
MAX_CACHED_UNKNOWN_VALUES: Final = 64
# Failures a bulk report keeps in its list (its counts stay exact; ``iter_add`` streams every failure).
BULK_MAX_FAILURES_KEPT: Final = 10_000

# --- Workflow helpers (watch, wait_for_tasks, failure_report, wait_until_ready, jobs.run) -------------------
# Seconds between two polls of a job's task counts (or a pool's state) when the caller does not say.
WATCH_POLL_INTERVAL: Final = 5.0
# A watch lists again the completions reported up to this many seconds before its watermark, so that one the
# service reports late (with an earlier stateTransitionTime than one already seen) is still found.
WATCH_OVERLAP: Final = 5.0
# Page size of the watch's listings (the most the service returns per page).
WATCH_PAGE_SIZE: Final = 1000
# What a watch needs of each task whatever the caller selects.
WATCH_REQUIRED_FIELDS: Final = ("id", "state", "stateTransitionTime")
# Poll interval of a pool wait, and the longest a pool wait takes by default (node allocation takes minutes).
POOL_POLL_INTERVAL: Final = 10.0
POOL_READY_TIMEOUT: Final = 1800.0
# Seconds a wait_for_tasks that sees no movement lets pass between two checks of the job's pool.
WAIT_POOL_CHECK_INTERVAL: Final = 30.0
# Failure report: bytes of each example's stderr read from its end, examples kept per group, and downloads
# of stderr tails in flight at once.
FAILURE_TAIL_BYTES: Final = 2048
FAILURE_MAX_EXAMPLES: Final = 3
FAILURE_DOWNLOAD_CONCURRENCY: Final = 8
# jobs.run: waits after ActiveJobAndScheduleQuotaReached on create (full jitter, doubling up to the cap).
JOB_QUOTA_BACKOFF_BASE: Final = 30.0
JOB_QUOTA_BACKOFF_CAP: Final = 300.0

# --- Command line (batchaio.cli) ---------------------------------------------------------------------------
# Seconds between redraws of the live progress line on a terminal, and between plain progress lines in a log.
CLI_LIVE_REFRESH_SECONDS: Final = 0.1
CLI_PLAIN_PROGRESS_SECONDS: Final = 5.0
# After the first Ctrl-C, requests in flight get this long to finish (fewer tasks left in doubt) before the
# run is cancelled; a second Ctrl-C cancels at once.
CLI_STOP_GRACE_SECONDS: Final = 3.0
# Lines of a JSON Lines file read at a time; bytes read at a time from a pipe (by a reader thread), and
# blocks read ahead of the submission.
CLI_READ_BLOCK_LINES: Final = 512
CLI_READ_BYTES: Final = 65_536
CLI_READ_AHEAD_BLOCKS: Final = 4
# Tasks per page of `batchaio tasks list` (the service's maximum).
CLI_LIST_PAGE_SIZE: Final = 1000

# --- Paging ------------------------------------------------------------------------------------------------
# A listing raises ResponseParseError after this many empty pages in a row that still carry a next link (a
# server handing out ever-new links would otherwise be followed forever); AsyncPager.max_empty_pages.
PAGER_MAX_EMPTY_PAGES: Final = 1000

"""Every tuning constant and service limit of the emulator, in one place."""

from __future__ import annotations

API_VERSION = "2024-07-01.20.0"
DEFAULT_ACCOUNT = "emulator"
# A fixed, well-known key so that a stock emulator can be reached without copying secrets around. Pass your
# own key (or ``--key random``) when that matters.
DEFAULT_KEY = "ZW11bGF0b3Ita2V5LWZvci1iYXRjaGFpby0wMDAwMDAwMDAwMDAwMDAwMDA="
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765

MAX_TASKS_PER_COLLECTION = 100
MAX_REQUEST_BODY_BYTES = 1_048_576
MAX_RESULTS_DEFAULT = 1000
MAX_RESULTS_LIMIT = 1000
MAX_RESULTS_LIMIT_CERTIFICATES = 100
# How many items a filtered list page inspects before it answers, possibly with an empty page and a next link
# (the real service does the same on sparse filters).
MAX_SCANNED_PER_PAGE = 5000
MAX_ID_LENGTH = 64
MAX_DISPLAY_NAME_LENGTH = 1024
MAX_TASK_SLOTS_PER_NODE = 256
# The subscription of the emulated account (subnets of another subscription are refused, as the service does).
DEFAULT_SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
# How deep parentheses and ``not`` may nest in a $filter, and how many digits a number there may have.
MAX_FILTER_DEPTH = 100
MAX_FILTER_NUMBER_DIGITS = 19
MAX_OCP_DATE_SKEW_SECONDS = 15 * 60

# Simulated task durations in seconds, drawn uniformly from this range unless the command line says `sleep N`.
SIMULATED_TASK_SECONDS = (0.05, 0.2)
DEFAULT_MAX_PROCESSES = 8
TASK_SLOTS_PER_NODE_DEFAULT = 1
# Nodes of each kind (dedicated, low-priority) a pool gets at most: the emulated account's quota.
MAX_NODES_PER_POOL = 10_000
# A failing start task is retried its maxTaskRetryCount times, at most this many (the service's limit).
MAX_START_TASK_RETRIES = 100

UNBOUNDED_DURATION = "P10675199DT2H48M5.4775807S"
DEFAULT_RETENTION = "P7D"
DEFAULT_RETRY_AFTER_SECONDS = 1

# Nodes: the region in the public FQDN of a pool's load balancer, and the first frontend port of the remote
# access rule (SSH or RDP) the service adds to every node (ports 50000-55000 are reserved for it).
EMULATED_REGION = "emulator"
REMOTE_ACCESS_FRONTEND_PORT_START = 50000
# How many Batch service log files uploadbatchservicelogs reports (the service uploads its agent's logs).
UPLOADED_SERVICE_LOG_FILES = 4

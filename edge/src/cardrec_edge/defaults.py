"""Runtime defaults shared by the CLI, the HTTP server and the recognition pipeline (one place for each)."""
from __future__ import annotations

MIN_BLUR = 40.0          # variance of Laplacian below which a crop is too blurry to match (cardrec_edge.quality)
MAX_GLARE = 0.25         # glare fraction above which a crop is not matched
RETRY_MARGIN = 0.1       # best score below threshold + this: also try the crop turned by 180°
TOP_K = 5                # candidates reported per card

HOST = "127.0.0.1"       # the server listens on this machine only unless told otherwise
PORT = 8000
DB = "collection.sqlite"
MAX_UPLOAD_MB = 10.0     # largest accepted upload
MAX_PIXELS = 40_000_000  # largest image (width x height, from its header) that is decoded
QUEUE_PER_WORKER = 8     # /identify requests that may wait per busy worker before the server answers 503
TOKEN_ENV = "CARDREC_EDGE_TOKEN"  # environment variable holding the server's access token

"""``hailo_sdk_client`` inside the docker stand-in's "container": the recording ClientRunner, whose call names
go to $CARDREC_TEST_DFC_LOG (the real module ships in Hailo's AI Software Suite image)."""
from tests.hailo_support import InferenceContext, RecordingClientRunner as ClientRunner  # noqa: F401

__version__ = "3.33.0"

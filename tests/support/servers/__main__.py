"""``python -m tests.support.servers``: see :mod:`tests.support.servers.standalone`."""

import sys

from tests.support.servers.standalone import main

sys.exit(main())

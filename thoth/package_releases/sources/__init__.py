"""Where releases come from, over HTTP: indexes' simple API and RSS feeds.

``index`` fetches pages that ``pages`` reads, ``feeds`` reads RSS feeds, and all of them (and every other part of
the job that talks HTTP) go through the one HTTP policy of ``http``. Nothing here touches the database.
"""

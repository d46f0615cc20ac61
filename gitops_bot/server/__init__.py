"""The assembled Flask app. May import operator, github, intake, web, store and contract."""

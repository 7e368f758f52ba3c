"""Reports: definitions (``reports/NAME.yaml``) of queries, indicators computed in code, charts, a Jinja2 template
and a checked narrative, run to ``report.html`` and ``report.pdf``; schedules that run them per cron slot once
across replicas and mail the result. Needs the ``reports`` extra (jinja2, matplotlib, fpdf2, cronsim)."""

"""专题班 (training classes), their certificates (结业证书) and reflections (心得体会).

Built on courses, library, exams, credits and accounts; none of them imports this package
(it reaches their pages through template globals, report METRICS and DOCUMENT_USES).
"""

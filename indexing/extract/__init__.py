"""Document extraction: PDF, PPTX, DOCX, XLSX/CSV, HTML, Markdown and text, behind one protocol.

See ``protocol.py`` for the records every format returns.
"""

"""Invoice and credit-note PDFs: what a document says, frozen when it is issued (`snapshots`), and
how it is written out, in the customer's language, with WeasyPrint from our own templates and
fonts only (`rendering`, `formatting`). Storing and serving them is payments.services.documents'."""

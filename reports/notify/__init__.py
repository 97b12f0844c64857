"""What a stream's ending sends out: signed webhook deliveries to API clients and the
owner's e-mail notice, recorded as rows with the ending and sent in the background
(docs/webhooks-and-email.md)."""

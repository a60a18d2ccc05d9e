"""The API's routers, one module per audience or resource; thin: validate, check scope, call store/ and workers/."""

def validated_data(serializer_class, request, **kwargs) -> dict:
    """The request body checked by a serializer (types and shapes; business rules live in services)."""
    serializer = serializer_class(data=request.data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data

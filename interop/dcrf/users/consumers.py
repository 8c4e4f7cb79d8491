from django.contrib.auth.models import User
from djangochannelsrestframework.generics import GenericAsyncAPIConsumer
from djangochannelsrestframework.mixins import (
    CreateModelMixin,
    DeleteModelMixin,
    ListModelMixin,
    PatchModelMixin,
    RetrieveModelMixin,
    UpdateModelMixin,
)
from djangochannelsrestframework.observer.generics import ObserverModelInstanceMixin

from .serializers import UserSerializer


class UserConsumer(ObserverModelInstanceMixin, GenericAsyncAPIConsumer):
    """Exactly the consumer of the DCRF docs page "Observer model instance"."""

    queryset = User.objects.all()
    serializer_class = UserSerializer


class FullUserConsumer(
    # ObserverModelInstanceMixin must come before RetrieveModelMixin (it
    # subclasses it), otherwise Python cannot build a consistent MRO.
    ObserverModelInstanceMixin,
    ListModelMixin,
    RetrieveModelMixin,
    CreateModelMixin,
    UpdateModelMixin,
    PatchModelMixin,
    DeleteModelMixin,
    GenericAsyncAPIConsumer,
):
    queryset = User.objects.all()
    serializer_class = UserSerializer
